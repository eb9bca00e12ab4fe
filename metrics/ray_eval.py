"""Scoring on Ray (``evaluate_run(..., executor="ray")``): the items go to model-calling actors, the records
come back to this process, the only writer of ``scores/`` (the same :class:`~.runner.RecordWriter` as a local
run).

Each actor rebuilds the judge and graders from their spec strings with its own
:class:`~scigenbench.generators.backends.limits.CallLimits`: ``in_flight`` requests at once per actor, and, when
``rpm`` is set, the cluster-wide :class:`~scigenbench.generators.executors.SharedRateLimiter` instead of a
per-actor rate (so the limit is never multiplied by the number of actors). An actor computes ``in_flight`` items
at a time with :func:`~.runner.compute_item` (every task of an item: judge, quiz, R_inv, fidelity).

Images are read by the workers from the run folder, so on a multi-node cluster the run folder must be on storage
every node mounts at the same path (only the driver writes to it).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any


def ray_backend_specs(*backends: Any) -> None:
    """Backends given as objects cannot be rebuilt in the workers: say what to pass instead."""
    for backend in backends:
        if backend is not None and not isinstance(backend, str):
            raise ValueError("evaluate with executor='ray' rebuilds the judge and graders in each worker: pass them "
                             "as backend spec strings (e.g. 'openai:<model>@<url>'), not as backend objects")


class ScoreHandler:
    """In a Ray actor: the judge and graders, built once with this actor's limits; ``process`` scores one item."""

    def __init__(self, judge: str | None, graders: dict[str, str | None], options: dict[str, Any],
                 switches: dict[str, str], in_flight: int, limiter: Any):
        from scigenbench.generators.backends.limits import CallLimits
        from scigenbench.metrics.runner import EvalContext
        from scigenbench.metrics.specs import resolve_backend

        options = dict(options)
        rpm = options.pop("rpm", None)
        limits = CallLimits(in_flight, None if limiter is not None else rpm, bool(options.pop("adaptive", False)),
                            rate_limiter=limiter)
        options.pop("concurrency", None)
        options["limits"] = limits
        built: dict[str, Any] = {}

        def build(spec: str | None) -> Any:
            if spec is None:
                return None
            if spec not in built:
                built[spec] = resolve_backend(spec, **options)
            return built[spec]

        self.ctx = EvalContext(answerers={"default": build(judge)}, default="default",
                               graders={metric: build(spec) for metric, spec in graders.items()}, switches=switches)

    def process(self, work: Any) -> list[tuple[Any, Any]]:
        from scigenbench.metrics.runner import compute_item

        records = compute_item(self.ctx, work.problem, work.image_path, work.tasks, work.missing_reason)
        return list(zip(work.tasks, records))


def run_work_on_ray(work: list[Any], eval_dir: Path, report: Any, current: dict[str, dict[str, Any]], *,
                    judge: str | None, graders: dict[str, str | None], backend_options: dict[str, Any],
                    switches: dict[str, str], ray_options: Any, progress: bool) -> None:
    """Compute ``work`` (:class:`~.runner.ItemWork` items) on Ray; write each record once, here."""
    from scigenbench.generators import executors
    from scigenbench.metrics.evaluation import _progress_bar, record_callback
    from scigenbench.metrics.runner import RecordWriter

    options = executors.resolve_options(ray_options)
    on_record = record_callback(report, current)
    bar = _progress_bar(len(work), ",".join(report.metrics), progress)
    for item in work:  # the workers may run elsewhere: absolute paths
        item.image_path = Path(item.image_path).resolve() if item.image_path is not None else None
    with executors.ray_session(options) as ray:
        limiter = None
        if backend_options.get("rpm"):
            limiter = executors.SharedRateLimiter.create(ray, float(backend_options["rpm"]))
        worker_options = executors.with_cluster_limits(backend_options, None, options, options.model_workers)
        factory = functools.partial(ScoreHandler, judge, graders, worker_options, switches, options.in_flight,
                                    limiter)
        stage = executors.Stage("io", factory, name="evaluate",
                                secrets=executors.secret_names(options, [backend_options]))
        try:
            with RecordWriter(eval_dir) as writer:
                for _, pairs in executors.stream(ray, stage, [(str(w.problem["id"]), w) for w in work], options):
                    for task, record in pairs:
                        writer.add(task.key, record)
                        on_record(task, record)
                        report.worker_cost_usd += float(record.usage.get("cost_usd") or 0.0) if record.calls else 0.0
                    if bar is not None:
                        bar.update(1)
        finally:
            if limiter is not None:
                limiter.close()
            if bar is not None:
                bar.close()
    for metric in report.metrics:
        report.calls.setdefault(metric, 0)
