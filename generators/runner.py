"""The generation runner: every generator, one resumable loop, one run folder.

:func:`run_generation` takes a :class:`~scigenbench.generators.base.Generator` and a list of problems and writes a
run folder (``scigenbench.dataset.runs.RunFolder``: ``run.json``, ``metadata.jsonl``, ``<id>.png``). It is built to
survive crashes and rate limits without losing or double-counting anything:

- **Resumable.** Ids already done (status ``ok`` with their image) are skipped. Ids that failed are retried only
  with ``retry_failed=True`` (items ``skipped`` for a missing tool always are). Ids with no record (never started,
  or in flight when the process died) are generated.
  Each record is appended atomically (``RunFolder.append``) by the main thread only after its item finished, so a
  killed run leaves no half-written rows; ``attempts.jsonl`` keeps every attempt with its number.
- **One configuration per run.** ``run.json`` holds the generator config and its hash; re-running into a folder
  made with another config (or another dataset) is refused unless ``force=True``.
- **Concurrency and batching.** Work units go to a thread pool of ``concurrency`` workers. A generator that sets a
  class or instance attribute ``batch_size > 1`` (pixel models on an accelerator) gets chunks of that size through
  :meth:`Generator.generate_batch`; one that sets ``max_concurrency`` (e.g. ``1`` for a single GPU pipeline) caps
  the number of workers.
- **Budget.** With ``budget_usd``, no new item starts once the cost spent (plus the in-flight items' expected cost)
  would pass the budget. A ``BudgetExceededError`` raised by a backend (its own hard budget) stops the run the same
  way; the item that hit it is not recorded, so it stays "not started" and is generated on the next run.
- **Executors.** ``executor="local"`` runs the work units on the thread pool above; ``executor="ray"`` runs them
  on Ray Data across a cluster (:mod:`scigenbench.generators.executors`): each worker rebuilds the generator
  from its ``recipe``, results stream back and this process stays the only writer of the run folder, keeping
  the first result per id when Ray re-runs a batch after a worker died.
- **Ctrl-C.** The first interrupt stops starting new items and waits for the in-flight ones (their records are
  kept); a second one aborts at once (in-flight items stay "not started").

Generators that repair (ImgCoder) report ``extra["render_ok_first_try"]`` and ``extra["render_ok_after_repair"]``;
the runner turns them into render rates at first try and after repair.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from scigenbench.generators.backends.base import BudgetExceededError
from scigenbench.generators.base import GenerationOutput, Generator

#: status of an item a generator could not attempt on this machine (a missing tool): reported with its reason,
#: never counted as a model failure, retried on the next run
SKIPPED = "skipped"
#: exit codes of :meth:`RunSummary.exit_code`
EXIT_OK, EXIT_ALL_FAILED, EXIT_BUDGET, EXIT_INTERRUPTED = 0, 1, 3, 130


def exit_status(stopped: str | None, all_failed: bool) -> int:
    """The command-line exit status of a run: 130 interrupted, 1 every attempted item failed, 3 stopped by the
    budget, else 0 (shared by ``generate`` and ``synthesize``)."""
    if stopped == "interrupted":
        return EXIT_INTERRUPTED
    if all_failed:
        return EXIT_ALL_FAILED
    if stopped == "budget":
        return EXIT_BUDGET
    return EXIT_OK


class RunConfigMismatchError(ValueError):
    """The run folder was made with another generator configuration or dataset."""


@dataclass
class RunSummary:
    """What one invocation of :func:`run_generation` did.

    ``counts`` are the statuses recorded in this invocation; ``run_counts`` the latest status of every requested
    id in the folder afterwards (``not_started`` for ids with no record), so a resumed run reports the whole set.
    """

    run_dir: str
    generator: str
    config_hash: str
    dataset: str
    n_requested: int = 0
    n_skipped_done: int = 0
    n_skipped_failed: int = 0
    n_attempted: int = 0
    n_not_started: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    run_counts: dict[str, int] = field(default_factory=dict)
    n_render_reported: int = 0
    n_render_ok_first_try: int = 0
    n_render_ok: int = 0
    n_verified_first_try: int = 0
    n_verified: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    stopped: str | None = None  # None | "budget" | "interrupted"
    stop_reason: str | None = None
    #: reason -> count of the items skipped in this invocation (status ``skipped``: a tool this machine lacks)
    skipped_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def n_ok(self) -> int:
        return self.counts.get("ok", 0)

    @property
    def all_failed(self) -> bool:
        """True when this invocation attempted items and none succeeded (items skipped for a missing tool do not
        count as attempts that failed)."""
        n_skipped = self.counts.get(SKIPPED, 0)
        return self.n_attempted > n_skipped and self.n_ok == 0

    def render_rate_first_try(self) -> float | None:
        return self.n_render_ok_first_try / self.n_render_reported if self.n_render_reported else None

    def render_rate(self) -> float | None:
        return self.n_render_ok / self.n_render_reported if self.n_render_reported else None

    def exit_code(self) -> int:
        """0 when the run finished with at least one success (or nothing to do); 1 when every attempted item
        failed; 3 when the budget stopped it; 130 when interrupted."""
        return exit_status(self.stopped, self.all_failed)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["render_rate_first_try"] = self.render_rate_first_try()
        d["render_rate"] = self.render_rate()
        d["exit_code"] = self.exit_code()
        return d

    def format(self) -> str:
        """A short human-readable report."""
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "nothing generated"
        whole = ", ".join(f"{k} {v}" for k, v in sorted(self.run_counts.items()))
        lines = [
            f"run {self.run_dir}  ({self.generator}, config {self.config_hash}, dataset {self.dataset})",
            f"  this run: {self.n_attempted} attempted: {statuses}; skipped {self.n_skipped_done} done"
            + (f", {self.n_skipped_failed} failed (use --retry-failed)" if self.n_skipped_failed else "")
            + (f"; {self.n_not_started} not started" if self.n_not_started else ""),
            f"  run folder now: {whole} (of {self.n_requested} requested)",
        ]
        for reason, count in self.skipped_reasons.items():
            lines.append(f"  skipped {count} (not a model failure; a re-run retries them): {reason}")
        if self.n_render_reported:
            n = self.n_render_reported
            lines.append(f"  render rate: {self.render_rate_first_try():.1%} at first try, "
                         f"{self.render_rate():.1%} after repair (n={n}); verified: "
                         f"{self.n_verified_first_try / n:.1%} at first try, {self.n_verified / n:.1%} after repair")
        lines.append(f"  model calls {self.calls}, tokens {self.prompt_tokens}+{self.completion_tokens}, "
                     f"cost ${self.cost_usd:.4f}, time {self.elapsed_s:.1f}s")
        if self.stopped:
            lines.append(f"  STOPPED ({self.stopped}): {self.stop_reason}")
        if self.all_failed:
            lines.append("  every attempted item failed: see the 'error' field in attempts.jsonl")
        return "\n".join(lines)


@dataclass
class WorkPlan:
    """Which requested ids to generate now, and which are skipped."""

    todo: list[dict[str, Any]]
    skipped_done: list[str]
    skipped_failed: list[str]


def run_generation(
    generator: Generator,
    problems: Iterable[dict[str, Any]],
    run_dir: str | Path,
    *,
    concurrency: int = 4,
    retry_failed: bool = False,
    budget_usd: float | None = None,
    progress: bool = True,
    dataset: str = "mini",
    force: bool = False,
    selection: dict[str, Any] | None = None,
    executor: str = "local",
    ray_options: Any = None,
) -> RunSummary:
    """Generate one image per problem into a resumable run folder.

    Args:
        generator: Any :class:`Generator`.
        problems: Problem rows (dicts with at least ``id`` and ``question``), e.g. a ``datasets.Dataset``.
        run_dir: The run folder; created if missing, resumed if it holds a run of the same configuration.
        concurrency: Worker threads (capped by the generator's ``max_concurrency`` if it sets one).
        retry_failed: Also regenerate ids whose latest record failed.
        budget_usd: Stop starting new items once this much has been spent in this invocation.
        progress: Show a tqdm progress bar (on stderr) and print failures as they happen.
        dataset: Dataset name recorded in ``run.json`` (``mini``, ``scigen``, ``seephys`` or your own).
        force: Write into a folder made with another configuration (each record keeps its own config hash).
        selection: When ``problems`` are a selection of a split: ``{"n_split": N, "criteria": {...}}``; the
            selected ids are recorded in ``run.json`` (see ``RunFolder.record_selection``) and ``evaluate`` then
            scores those items only, as a partial run.
        executor: ``"local"`` (threads in this process) or ``"ray"`` (a Ray cluster; see
            :mod:`scigenbench.generators.executors`; ``concurrency`` is then ``ray_options.in_flight`` per
            worker). Same run folder, same records, written by this process only.
        ray_options: a :class:`~scigenbench.generators.executors.RayOptions` (or a dict of its fields).

    Returns:
        A :class:`RunSummary`; ``summary.exit_code()`` is what a command line should return.

    Raises:
        RunConfigMismatchError: ``run_dir`` holds a run of another configuration or dataset and ``force`` is off.
        ValueError: Problems without ids or with duplicate ids.
    """
    from scigenbench.generators.executors import check_executor

    started = time.perf_counter()
    check_executor(executor)
    source = problems
    problems = list(problems)
    _check_ids(problems)
    run = open_run(run_dir, generator, dataset=dataset, force=force)
    if selection is not None:
        run.record_selection([str(p["id"]) for p in problems], n_split=selection.get("n_split"),
                             criteria=selection.get("criteria"))
    plan = plan_work(problems, run, retry_failed=retry_failed)
    summary = RunSummary(run_dir=str(run_dir), generator=generator.name, config_hash=generator.config_hash(),
                         dataset=dataset, n_requested=len(problems), n_skipped_done=len(plan.skipped_done),
                         n_skipped_failed=len(plan.skipped_failed))
    loop = _Loop(generator, run, summary, budget_usd=budget_usd, progress=progress)
    if executor == "ray" and plan.todo:  # nothing to do: no cluster needed, no model call made
        _run_on_ray(loop, plan.todo, ray_options, _hub_rows(source, plan.todo))
    else:
        loop.run(plan.todo, concurrency=concurrency)
    summary.n_not_started = len(plan.todo) - summary.n_attempted
    summary.run_counts = _run_counts(run, [str(p["id"]) for p in problems])
    summary.elapsed_s = round(time.perf_counter() - started, 3)
    return summary


def open_run(run_dir: str | Path, generator: Generator, *, dataset: str, force: bool = False):
    """Create the run folder, or open it after checking it was made with the same config and dataset."""
    from scigenbench.dataset.runs import RunFolder

    path = Path(run_dir)
    if not (path / "run.json").exists():
        return RunFolder.create(path, generator=generator.name, config=generator.config(), dataset=dataset)
    run = RunFolder.open(path)
    info = run.info
    want_hash = generator.config_hash()
    mismatches = []
    if info.get("config_hash") != want_hash:
        mismatches.append(f"it was made by generator {info.get('generator')!r} with config_hash "
                          f"{info.get('config_hash')!r}, this generator ({generator.name}) has {want_hash!r}")
    if info.get("dataset") not in (None, dataset):
        mismatches.append(f"it holds dataset {info.get('dataset')!r}, this run is for {dataset!r}")
    if mismatches and not force:
        raise RunConfigMismatchError(
            f"Refusing to mix runs in {path}: {'; '.join(mismatches)}. Write to a new --out folder, or pass "
            f"--force (force=True) to add items to this folder anyway (each record keeps its own config_hash; "
            f"items already done are not regenerated).")
    return run


def plan_work(problems: Sequence[dict[str, Any]], run, *, retry_failed: bool) -> WorkPlan:
    """Split the requested problems into those to generate now and those skipped (done, or failed). Items last
    ``skipped`` for a missing tool are always tried again (the tool may be installed now)."""
    done, failed = run.done_ids(), run.failed_ids()
    if failed and not retry_failed:
        failed -= {pid for pid, rec in run.records().items() if rec.get("status") == SKIPPED}
    todo, skipped_done, skipped_failed = [], [], []
    for problem in problems:
        pid = str(problem["id"])
        if pid in done:
            skipped_done.append(pid)
        elif pid in failed and not retry_failed:
            skipped_failed.append(pid)
        else:
            todo.append(problem)
    return WorkPlan(todo, skipped_done, skipped_failed)


def chunk(items: Sequence[Any], size: int) -> list[list[Any]]:
    """Consecutive chunks of at most ``size`` items."""
    size = max(1, int(size))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def render_outcome(output: GenerationOutput) -> tuple[bool, bool] | None:
    """``(ok at first try, ok after repair)`` when the generator reports render outcomes, else ``None`` (also for
    a ``skipped`` item: a renderer this machine lacks is not a render failure)."""
    extra = output.extra or {}
    if "render_ok_first_try" not in extra or output.status == SKIPPED:
        return None
    first = bool(extra["render_ok_first_try"])
    return first, bool(extra.get("render_ok_after_repair", first))


class _BudgetStop:
    """Marker returned by a worker whose generator ran out of budget: the item is not recorded."""

    def __init__(self, reason: str, usage: dict[str, Any] | None = None):
        self.reason = reason
        self.usage = usage or {}  # what the item spent before the budget stopped it (counted, not recorded)


class _Loop:
    """The submit/collect loop. Only the main thread touches the run folder and the summary."""

    def __init__(self, generator: Generator, run, summary: RunSummary, *, budget_usd: float | None,
                 progress: bool):
        self.generator = generator
        self.run_folder = run
        self.summary = summary
        self.budget_usd = budget_usd
        self.progress = progress
        self.config_hash = generator.config_hash()
        self.n_costed = 0
        self.bar = None

    # -- the loop ---------------------------------------------------------------------------------------------

    def run(self, todo: list[dict[str, Any]], *, concurrency: int) -> None:
        batch_size = int(getattr(self.generator, "batch_size", 1) or 1)
        cap = getattr(self.generator, "max_concurrency", None)
        workers = max(1, min(int(concurrency), int(cap)) if cap else int(concurrency))
        units = chunk(todo, batch_size)
        if not units:
            return
        self._open_bar(len(todo))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scigenbench-gen")
        pending: dict[Future, list[dict[str, Any]]] = {}
        queue = iter(units)
        try:
            while True:
                self._fill(pool, pending, queue, workers, batch_size)
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    self._collect(pending.pop(future), future.result())
        except KeyboardInterrupt:
            self._stop("interrupted", "interrupted by the user")
            self._drain(pool, pending)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            self.bar.close()

    def consume(self, todo: list[dict[str, Any]], results: Iterable[tuple[str, Any]]) -> None:
        """Record streamed ``(id, output)`` results (the Ray executor); stop reading at the budget or Ctrl-C."""
        by_id = {str(p["id"]): p for p in todo}
        self._open_bar(len(todo))
        try:
            for pid, output in results:
                self._collect([by_id[pid]], [output])
                if not self.summary.stopped and self._budget_would_pass(in_flight=0):
                    self._stop("budget", f"budget ${self.budget_usd:.4f} reached: spent ${self.summary.cost_usd:.4f}")
                if self.summary.stopped:
                    break  # results still in flight are not recorded: those ids stay "not started"
        except KeyboardInterrupt:
            self._stop("interrupted", "interrupted by the user")
        finally:
            self.bar.close()

    def _open_bar(self, total: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, disable=not self.progress, unit="img", file=sys.stderr,
                        desc=f"generate {self.generator.name}", dynamic_ncols=True)

    def _fill(self, pool, pending, queue, workers: int, batch_size: int) -> None:
        while not self.summary.stopped and len(pending) < workers:
            unit = next(queue, None)
            if unit is None:
                return
            in_flight = len(pending) * batch_size + len(unit)
            if self._budget_would_pass(in_flight=in_flight):
                spent = self.summary.cost_usd
                per_item = spent / self.n_costed if self.n_costed else 0.0
                self._stop("budget", f"budget ${self.budget_usd:.4f} would be passed: spent ${spent:.4f}, about "
                                     f"${per_item:.4f} per item, {in_flight} more item(s) in flight or next")
                return
            pending[pool.submit(_generate_unit, self.generator, unit, batch_size > 1)] = unit

    def _drain(self, pool, pending) -> None:
        """After a first Ctrl-C: record what is in flight; a second Ctrl-C gives up on it."""
        if pending and self.progress:
            self.bar.write(f"stopping: waiting for {len(pending)} work unit(s) in flight (Ctrl-C again to abort)")
        try:
            for future in list(pending):
                outputs = future.result()
                self._collect(pending.pop(future), outputs)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- per item ---------------------------------------------------------------------------------------------

    def _collect(self, unit: list[dict[str, Any]], outputs: list[GenerationOutput | _BudgetStop]) -> None:
        for problem, output in zip(unit, outputs):
            if isinstance(output, _BudgetStop):
                self._stop("budget", output.reason)
                self._add_usage(output.usage)
                continue
            self._record(str(problem["id"]), output)
        self._update_bar()

    def _record(self, pid: str, output: GenerationOutput) -> None:
        append_output(self.run_folder, self.generator, pid, output)
        self._account(output)
        if output.status == SKIPPED:  # summarised once at the end, not once per item
            reason = output.error or "skipped"
            self.summary.skipped_reasons[reason] = self.summary.skipped_reasons.get(reason, 0) + 1
        elif output.status != "ok" and self.progress:
            self.bar.write(f"[{output.status}] {pid}: {(output.error or '')[:300]}")

    def _account(self, output: GenerationOutput) -> None:
        s = self.summary
        s.n_attempted += 1
        s.counts[output.status] = s.counts.get(output.status, 0) + 1
        usage = output.usage or {}
        self._add_usage(usage)
        if usage.get("cost_usd") is not None:
            self.n_costed += 1
        outcome = render_outcome(output)
        if outcome is not None:
            s.n_render_reported += 1
            s.n_render_ok_first_try += outcome[0]
            s.n_render_ok += outcome[1]
            s.n_verified_first_try += bool(output.extra.get("verified_first_try"))
            s.n_verified += bool(output.extra.get("verified"))

    def _add_usage(self, usage: dict[str, Any]) -> None:
        s = self.summary
        s.calls += int(usage.get("calls", 0) or 0)
        s.prompt_tokens += int(usage.get("prompt_tokens", 0) or 0)
        s.completion_tokens += int(usage.get("completion_tokens", 0) or 0)
        s.cost_usd += float(usage.get("cost_usd") or 0.0)

    def _budget_would_pass(self, *, in_flight: int) -> bool:
        if self.budget_usd is None:
            return False
        spent = self.summary.cost_usd
        mean_cost = spent / self.n_costed if self.n_costed else 0.0
        return spent >= self.budget_usd or spent + mean_cost * in_flight > self.budget_usd

    def _stop(self, why: str, reason: str) -> None:
        if not self.summary.stopped:
            self.summary.stopped, self.summary.stop_reason = why, reason
            if self.progress and self.bar is not None:
                self.bar.write(f"stopping ({why}): {reason}")

    def _update_bar(self) -> None:
        s = self.summary
        self.bar.n = s.n_attempted
        n_skipped = s.counts.get(SKIPPED, 0)
        postfix = {"ok": s.n_ok, "failed": s.n_attempted - s.n_ok - n_skipped}
        if n_skipped:
            postfix["skipped"] = n_skipped
        if s.n_render_reported:
            postfix["render"] = f"{s.render_rate_first_try():.0%}→{s.render_rate():.0%}"
        postfix["cost"] = f"${s.cost_usd:.3f}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()


def append_output(run_folder, generator: Generator, pid: str, output: GenerationOutput) -> GenerationOutput:
    """Record one generator output in a run folder, as the runner does: only ``ok`` rows keep their image; an
    ``ok`` without an image, or bytes the folder refuses (not a PNG), become a recorded failure. Returns
    ``output`` (its status updated when it had to be recorded as a failure)."""
    if output.status == "ok" and not output.image_png:
        output.status, output.error = "failed", "generator returned status 'ok' without an image"
    record = {"id": pid, "generator": generator.name, "config_hash": generator.config_hash(), **output.to_record()}
    # only "ok" rows keep an image (a figure that failed verification is described by its record)
    image = output.image_png if output.status == "ok" else None
    try:
        run_folder.append(record, image)
    except ValueError as exc:  # e.g. bytes that are not a PNG: record the failure instead of losing the item
        output.status, output.error = "failed", f"could not store the output: {exc}"
        run_folder.append({**record, "status": "failed", "error": output.error}, None)
    return output


def generate_one(generator: Generator, problem: dict[str, Any]) -> GenerationOutput:
    """One item through the generator, as a runner worker does (never raises; a budget stop raises
    :class:`BudgetExceededError` so the caller can stop without recording the item)."""
    result = _generate_unit(generator, [problem], False)[0]
    if isinstance(result, _BudgetStop):
        raise BudgetExceededError(result.reason)
    return result


def _generate_unit(generator: Generator, unit: list[dict[str, Any]], batched: bool
                   ) -> list[GenerationOutput | _BudgetStop]:
    """Run the generator on one work unit (in a worker thread). Never raises."""
    started = time.perf_counter()
    try:
        outputs = generator.generate_batch(unit) if batched else [generator.generate(unit[0])]
        if len(outputs) != len(unit):
            raise RuntimeError(f"{generator.name}.generate_batch returned {len(outputs)} outputs for "
                               f"{len(unit)} problems")
    except BudgetExceededError as exc:
        return [_BudgetStop(str(exc))] * len(unit)
    except Exception as exc:  # a generator bug must not kill the run: it becomes a failed record
        outputs = [GenerationOutput(status="failed", error=f"{type(exc).__name__}: {exc}") for _ in unit]
    wall = round((time.perf_counter() - started) / len(unit), 4)
    result: list[GenerationOutput | _BudgetStop] = []
    for output in outputs:
        if output.status == "budget_exceeded":
            result.append(_BudgetStop(output.error or "budget exceeded", output.usage))
            continue
        output.timings = dict(output.timings or {})
        output.timings.setdefault("total", wall)
        result.append(output)
    return result


# -- the Ray executor -----------------------------------------------------------------------------------------

def _hub_rows(source: Any, todo: list[dict[str, Any]]) -> Any:
    """The rows of ``todo`` as a ``datasets.Dataset`` when the problems came as one (Ray reads it with
    ``ray.data.from_huggingface``), else ``None``."""
    if type(source).__module__.split(".")[0] != "datasets" or not hasattr(source, "select"):
        return None
    wanted = {str(p["id"]) for p in todo}
    return source.select([i for i, pid in enumerate(source["id"]) if str(pid) in wanted])


def _run_on_ray(loop: _Loop, todo: list[dict[str, Any]], ray_options: Any, hub_rows: Any = None) -> None:
    """Generate ``todo`` on Ray workers; ``loop`` (this process) records every result."""
    from scigenbench.generators import executors

    options = executors.resolve_options(ray_options)
    generator = loop.generator
    items = hub_rows if hub_rows is not None else [(str(p["id"]), p) for p in todo]
    with executors.ray_session(options) as ray:
        stage, limiter = generation_stage(ray, generator, options)
        try:
            loop.consume(todo, executors.stream(ray, stage, items, options))
        finally:
            if limiter is not None:
                limiter.close()


def generation_stage(ray, generator: Generator, options: Any):
    """The Ray stage that runs ``generator`` (rebuilt in each worker), and its shared rate limiter if any."""
    import functools
    import pickle

    from scigenbench.generators import executors

    kind = getattr(generator, "stage", "io")
    recipe = getattr(generator, "recipe", None)
    limiter = None
    if recipe is not None:
        spec, build_options = recipe[0], dict(recipe[1])
        if hasattr(generator, "backend"):  # a model-calling generator: one rate limit, in-flight per worker
            if build_options.get("rpm"):
                limiter = executors.SharedRateLimiter.create(ray, float(build_options["rpm"]))
            n_actors = executors.pool_shape(ray, kind, options)[0]
            build_options = executors.with_cluster_limits(build_options, limiter, options, n_actors)
        blob = None
    else:
        spec, build_options = None, {}
        try:
            blob = pickle.dumps(generator)
        except Exception as exc:
            raise ValueError(f"--executor ray rebuilds the generator in each worker, but {generator.name!r} was "
                             f"built directly and cannot be pickled ({type(exc).__name__}: {exc}); build it with "
                             "scigenbench.generators.get_generator(spec, **options)") from None
    factory = functools.partial(_GenerationHandler, spec, build_options, blob, kind,
                                options.cpus_per_render_worker)
    secrets = executors.secret_names(options, [build_options])
    batch = int(getattr(generator, "batch_size", 1) or 1) if kind == "gpu" else None
    return executors.Stage(kind, factory, name=f"generate-{generator.name}", batch_size=batch,
                           secrets=secrets), limiter


class _GenerationHandler:
    """In a Ray worker: the generator, rebuilt once; render stages get a RendererPool of the worker's CPUs."""

    def __init__(self, spec: str | None, options: dict[str, Any], blob: bytes | None, kind: str, cpus: float):
        import math
        import pickle

        options = dict(options)
        if kind == "render" and spec and spec.partition(":")[0] == "imgcoder" and "pool" not in options:
            from scigenbench.generators.sandbox import RendererPool

            options["pool"] = RendererPool(workers=max(1, math.ceil(cpus)))
        if spec is not None:
            from scigenbench.generators.base import get_generator

            self.generator = get_generator(spec, **options)
        else:
            self.generator = pickle.loads(blob)
        if kind == "gpu":
            self.process_batch = self._process_batch

    def process(self, problem: dict[str, Any]) -> GenerationOutput | _BudgetStop:
        return _generate_unit(self.generator, [problem], False)[0]

    def _process_batch(self, problems: list[dict[str, Any]]) -> list[GenerationOutput | _BudgetStop]:
        return _generate_unit(self.generator, problems, len(problems) > 1)


def _check_ids(problems: list[dict[str, Any]]) -> None:
    seen: Counter = Counter()
    for i, problem in enumerate(problems):
        pid = problem.get("id") if isinstance(problem, dict) else None
        if pid is None or str(pid) == "":
            raise ValueError(f"problem #{i} has no 'id'; every problem needs a string id (see load_scigenbench)")
        seen[str(pid)] += 1
    dupes = [pid for pid, n in seen.items() if n > 1]
    if dupes:
        raise ValueError(f"duplicate problem ids {dupes[:10]}: each id must appear once in a run")


def _run_counts(run, ids: list[str]) -> dict[str, int]:
    records = run.records()
    done = run.done_ids()
    counts: Counter = Counter()
    for pid in ids:
        if pid in done:
            counts["ok"] += 1
        elif pid in records:
            counts[records[pid].get("status") or "failed"] += 1
        else:
            counts["not_started"] += 1
    return dict(counts)


# -- dry runs -----------------------------------------------------------------------------------------------------

def plan_work_readonly(problems: Sequence[dict[str, Any]], run_dir: str | Path, *, retry_failed: bool
                       ) -> tuple[list[dict[str, Any]], int, int]:
    """What :func:`run_generation` would generate in ``run_dir``, without creating or changing anything.

    Returns ``(todo, n_already_done, n_failed)``.
    """
    path = Path(run_dir)
    if not (path / "run.json").exists():
        return list(problems), 0, 0
    import json

    from scigenbench.dataset.runs import RunFolder

    # the constructor, not RunFolder.open: a dry run must not repair (write) anything
    run = RunFolder(path, json.loads((path / "run.json").read_text(encoding="utf-8")))
    plan = plan_work(problems, run, retry_failed=retry_failed)
    failed = run.failed_ids()
    n_failed = sum(1 for p in problems if str(p["id"]) in failed)
    return plan.todo, len(plan.skipped_done), n_failed


def estimate_requests(generator: Generator | None, problems: Sequence[dict[str, Any]], *, spec: str = "",
                      options: dict[str, Any] | None = None) -> dict[str, Any]:
    """A rough count of the model requests (and tokens, where it applies) a run over ``problems`` would make.

    A generator may define ``estimate_requests(problems) -> dict`` for a better answer; otherwise the estimate
    follows the generator kind: ``text-card`` makes no calls, an image API one request per item, a Diffusers
    model one local pipeline call per batch, ImgCoder (1 or 3 stage calls) plus up to its repair rounds, with
    prompt tokens approximated as characters / 4. When the generator could not be built (``None``), its
    ``options`` (e.g. ``stages``, ``max_repair_rounds``) still shape the estimate.
    """
    if generator is not None and hasattr(generator, "estimate_requests"):
        return dict(generator.estimate_requests(list(problems)))
    n = len(problems)
    kind = generator.name if generator is not None else spec.partition(":")[0]
    if kind == "text-card":
        return {"items": n, "model_calls": 0, "cost_usd": 0.0}
    if kind in ("openai-image", "image-api"):
        est: dict[str, Any] = {"items": n, "image_requests": n}
        price = (generator.config().get("price_per_image") if generator is not None else None)
        est["cost_usd"] = round(price * n, 4) if price is not None else "unknown (set -o price_per_image=...)"
        return est
    if kind == "diffusers":
        batch = int(getattr(generator, "batch_size", 1) or 1)
        return {"items": n, "pipeline_calls": -(-n // batch), "api_calls": 0}
    if kind == "imgcoder":
        return _estimate_imgcoder(generator, problems, options or {})
    return {"items": n, "model_calls": "unknown for this generator"}


def _estimate_imgcoder(generator: Generator | None, problems: Sequence[dict[str, Any]],
                       options: dict[str, Any]) -> dict[str, Any]:
    """First-try calls and prompt tokens from ImgCoder's own prompt builders (~4 characters per token); the
    answers fed back into later stages and the completions are typical sizes, not measurements."""
    if generator is not None:
        config = generator.config()
    else:
        from dataclasses import asdict, fields

        from scigenbench.generators.imgcoder import ImgCoderConfig

        names = {f.name for f in fields(ImgCoderConfig)}
        config = asdict(ImgCoderConfig())
        try:
            config = asdict(ImgCoderConfig.from_options(**{k: v for k, v in options.items() if k in names}))
        except (TypeError, ValueError):
            pass  # a bad option: the real run reports it; estimate with the defaults
    single = config.get("stages") == "single"
    repairs = int(config.get("max_repair_rounds", 2) or 0)
    stage_calls = 1 if single else 3
    n = len(problems)
    try:
        prompt_chars = sum(_imgcoder_prompt_chars(p, config, single) for p in problems)
    except Exception:  # the prompt builders changed: fall back to a size-only guess
        prompt_chars = sum(2500 * stage_calls + stage_calls * len(p.get("question") or "") for p in problems)
    fed_back_tokens = 0 if single else 700  # understanding into plan, plan into code
    completion_per_item = 1200 if single else 1400
    return {"items": n, "model_calls_first_try": n * stage_calls,
            "model_calls_max_with_repair": n * (stage_calls + repairs),
            "prompt_tokens_first_try": f"~{prompt_chars // 4 + n * fed_back_tokens}",
            "completion_tokens_first_try": f"~{n * completion_per_item}"}


def _imgcoder_prompt_chars(problem: dict[str, Any], config: dict[str, Any], single: bool) -> int:
    from scigenbench.generators.imgcoder import prompting, select_examples
    from scigenbench.generators.imgcoder.parsing import fallback_plan

    preference = config.get("language", "auto")
    examples = select_examples(problem, int(config.get("few_shot", 0) or 0), language=None)
    if single:
        batches = [prompting.single_messages(problem, preference, examples)]
    else:
        plan = fallback_plan(preference)
        batches = [prompting.understand_messages(problem),
                   prompting.plan_messages(problem, "", preference, examples),
                   prompting.code_messages(problem, plan, plan["language"], examples)]
    return sum(len(m["content"]) for messages in batches for m in messages if isinstance(m.get("content"), str))
