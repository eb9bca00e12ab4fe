"""``synthesize`` on Ray: the per-item stage chain runs in Ray actors; one writer actor owns ``SYN_DIR``.

The workers (``render`` stage: each owns a ``RendererPool`` of its CPUs and keeps ``in_flight`` items going) run
:func:`~scigenbench.training.pipeline.process_item` unchanged, with a context whose stage store and run folder
are proxies of **one writer actor**, placed on the driver's node: it is the only process that appends to
``SYN_DIR/stages/`` and ``SYN_DIR/run/`` (with the same atomic appends as a local run), so ``SYN_DIR`` needs no
shared storage. Before an item starts, its worker asks the writer for the item's recorded state; an item that
Ray runs again after its worker died therefore skips every stage already recorded, and no record appears twice.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import uuid
from pathlib import Path
from typing import Any


class SynthWriter:
    """The writer actor: the stage store and the run folder of one ``SYN_DIR``, with an index of each id's state."""

    def __init__(self, out: str, stages: tuple[str, ...]):
        from scigenbench.dataset.runs import RunFolder
        from scigenbench.training.pipeline import RUN_DIR
        from scigenbench.training.store import StageStore

        self.store = StageStore(Path(out), stages)
        self.run = RunFolder.open(Path(out) / RUN_DIR)
        self.state = self.store.state()
        self.verify_rows: dict[str, list[dict[str, Any]]] = {}
        for row in self.store.rows("verify"):
            self.verify_rows.setdefault(row["id"], []).append(row)

    def item_state(self, item_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return self.state.get(item_id, {}), self.verify_rows.get(item_id, [])

    def append_stage(self, stage: str, item_id: str, record: dict[str, Any], final: bool) -> dict[str, Any]:
        row = self.store.append(stage, item_id, record, final=final)
        if stage == "verify":
            self.verify_rows.setdefault(item_id, []).append(row)
        else:
            self.state.setdefault(item_id, {})[stage] = row
        return row

    def append_run(self, record: dict[str, Any], image: bytes | None) -> dict[str, Any]:
        return self.run.append(record, image)

    def run_record(self, item_id: str) -> dict[str, Any] | None:
        return self.run.record(item_id)

    def image(self, item_id: str) -> bytes:
        return self.run.image_path(item_id).read_bytes()


class _RemoteStore:
    """``StageStore.append`` through the writer actor."""

    def __init__(self, writer):
        self.writer = writer

    def append(self, stage: str, item_id: str, record: dict[str, Any], *, final: bool) -> dict[str, Any]:
        import ray

        return ray.get(self.writer.append_stage.remote(stage, item_id, record, final))


class _RemoteRecords:
    """The part of ``RunFolder.records()`` the stage functions use: one id at a time."""

    def __init__(self, writer):
        self.writer = writer

    def get(self, item_id: str, default: Any = None) -> Any:
        import ray

        found = ray.get(self.writer.run_record.remote(item_id))
        return default if found is None else found

    def __getitem__(self, item_id: str) -> dict[str, Any]:
        found = self.get(item_id)
        if found is None:
            raise KeyError(item_id)
        return found


class _RemoteImage:
    def __init__(self, writer, item_id: str):
        self.writer, self.item_id = writer, item_id

    def read_bytes(self) -> bytes:
        import ray

        return ray.get(self.writer.image.remote(self.item_id))


class _RemoteRun:
    """The ``RunFolder`` methods the stage functions use (``append``, ``record``, ``records``, ``image_path``)."""

    def __init__(self, writer):
        self.writer = writer

    def append(self, record: dict[str, Any], image_png: bytes | None = None) -> dict[str, Any]:
        import ray

        return ray.get(self.writer.append_run.remote(record, image_png))

    def records(self) -> _RemoteRecords:
        return _RemoteRecords(self.writer)

    def record(self, item_id: str) -> dict[str, Any] | None:
        """The latest attempt of one id (``RunFolder.record``)."""
        import ray

        return ray.get(self.writer.run_record.remote(item_id))

    def image_path(self, item_id: str) -> _RemoteImage:
        return _RemoteImage(self.writer, item_id)


class SynthHandler:
    """In a Ray actor: the synthesis backends and generator (rebuilt from the config), one item at a time."""

    def __init__(self, config: Any, writer_name: str, namespace: str, cpus: float):
        import ray

        from scigenbench.metrics.specs import is_proxy
        from scigenbench.training.pipeline import SynthContext, build_context_parts

        self.writer = ray.get_actor(writer_name, namespace=namespace)
        if config.generator.partition(":")[0] == "imgcoder" and "pool" not in config.generator_options:
            from scigenbench.generators.sandbox import RendererPool

            pool = RendererPool(workers=max(1, math.ceil(cpus)))
            config = dataclasses.replace(config, generator_options={**config.generator_options, "pool": pool})
        constructor, generator, judge, grader = build_context_parts(config)
        self.ctx = SynthContext(config, constructor=constructor, generator=generator, judge=judge, grader=grader,
                                proxy=is_proxy(config.judge), store=_RemoteStore(self.writer),
                                run=_RemoteRun(self.writer))
        self.instance = uuid.uuid4().hex  # a restarted actor counts its calls afresh

    def process(self, item: dict[str, Any]) -> dict[str, Any]:
        import ray

        from scigenbench.generators.backends.base import BudgetExceededError
        from scigenbench.training.pipeline import process_item

        state, verify_rows = ray.get(self.writer.item_state.remote(item["id"]))
        item = {**item, **state, "verify_rows": verify_rows}
        try:
            outcome = process_item(item, self.ctx)
        except BudgetExceededError as exc:
            outcome = {"id": item["id"], "stage": "budget", "status": "budget_exceeded", "error": str(exc)}
        except Exception as exc:  # a bug in a stage must not kill the run: the item is reported, not recorded
            outcome = {"id": item["id"], "stage": "internal", "status": "error",
                       "error": f"{type(exc).__name__}: {exc}"}
        # cumulative counters of this actor's backends: the driver keeps the latest per actor instance
        return {"outcome": outcome, "instance": self.instance, "calls": self.ctx.calls(), "spent": self.ctx.spent()}


def schedule_on_ray(items: list[dict[str, Any]], config: Any, ray_options: Any, *, progress: bool = True):
    """The Ray counterpart of :func:`~scigenbench.training.pipeline.schedule`: returns its ``ScheduleResult``
    plus ``(calls, cost)`` made by the workers."""
    from tqdm.auto import tqdm

    from scigenbench.generators import executors
    from scigenbench.training.pipeline import STAGES, ScheduleResult

    options = executors.resolve_options(ray_options)
    result = ScheduleResult()
    totals: dict[str, tuple[int, float]] = {}
    bar = tqdm(total=len(items), disable=not progress, unit="item", desc="synthesize (ray)", dynamic_ncols=True)
    with executors.ray_session(options) as ray:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.get_runtime_context().get_node_id()
        name = f"scigenbench-synth-writer-{uuid.uuid4().hex[:12]}"
        writer = ray.remote(num_cpus=0, max_restarts=-1)(SynthWriter).options(
            name=name, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote(
            str(Path(config.out).resolve()), STAGES)
        limiter = None
        if config.backend_options.get("rpm"):
            limiter = executors.SharedRateLimiter.create(ray, float(config.backend_options["rpm"]))
        n_actors = executors.pool_shape(ray, "render", options)[0]
        worker_config = dataclasses.replace(
            config, concurrency=options.in_flight, progress=False,
            backend_options=executors.with_cluster_limits(config.backend_options, limiter, options, n_actors))
        factory = functools.partial(SynthHandler, worker_config, name, ray.get_runtime_context().namespace,
                                    options.cpus_per_render_worker)
        secrets = executors.secret_names(options, [config.backend_options, config.generator_options])
        stage = executors.Stage("render", factory, name="synthesize", secrets=secrets)
        stripped = [(item["id"], {k: v for k, v in item.items() if k != "verify_rows"}) for item in items]
        try:
            for _, answer in executors.stream(ray, stage, stripped, options):
                totals[answer["instance"]] = (answer["calls"], answer["spent"])
                outcome = answer["outcome"]
                if outcome["status"] == "budget_exceeded":
                    result.stopped, result.stop_reason = "budget", outcome["error"]
                    break
                result.outcomes.append(outcome)
                bar.update(1)
                spent = sum(s for _, s in totals.values())
                if config.budget_usd is not None and spent >= config.budget_usd:
                    result.stopped = "budget"
                    result.stop_reason = f"budget ${config.budget_usd:.4f} reached: spent ${spent:.4f}"
                    break
        except KeyboardInterrupt:
            result.stopped, result.stop_reason = "interrupted", "interrupted by the user"
        finally:
            bar.close()
            if limiter is not None:
                limiter.close()
            ray.kill(writer)
    result.not_started = len(items) - len(result.outcomes)
    calls = sum(c for c, _ in totals.values())
    spent = sum(s for _, s in totals.values())
    return result, calls, spent
