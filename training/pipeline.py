"""``scigenbench synthesize``: text QA pairs → verified, figure-grounded training items in ``SYN_DIR``.

Every input item runs through the same chain of per-item stage functions::

    triage → elements → quizzes → rewrite → validate → generate → verify (→ revise → verify …)

Each stage function takes the item (its input fields plus the records of the stages before it) and the
:class:`SynthContext`, and returns a record that is appended to ``SYN_DIR/stages/<stage>.jsonl`` (generation
writes the run folder ``SYN_DIR/run/`` instead). :func:`process_item` runs the chain for one item, skipping every
stage whose record is already final on disk, so a killed run resumes where each item stopped, with nothing lost
or done twice. :func:`schedule` is the one place that decides which items run when: it keeps ``concurrency``
items in flight (so model calls of some items overlap the rendering of others), stops starting new ones on a
budget or a Ctrl-C, and drives the progress bar. Swapping the executor means replacing :func:`schedule`'s
thread pool; stage functions, the item and the on-disk state stay the same.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from scigenbench.generators.backends.base import BudgetExceededError
from scigenbench.training import construct, prompting
from scigenbench.training.inputs import InputSpec, make_items, read_rows
from scigenbench.training.store import StageStore
from scigenbench.training.verify import AcceptancePolicy, blind_checks, decide, image_checks

SYNTH_FILE = "synth.json"
#: items kept in flight per model-request slot (items that render or read files hold no request)
ITEMS_PER_REQUEST_SLOT = 2
RUN_DIR = "run"
ITEMS_FILE = "items.jsonl"
SKIPPED_FILE = "skipped.jsonl"
#: stage logs kept in ``SYN_DIR/stages/``
STAGES = (*construct.CONSTRUCTION_STAGES, "verify")


@dataclass
class SynthConfig:
    """Everything a synthesis run needs (the command line fills it).

    Attributes:
        input: where the QA pairs come from (:class:`~.inputs.InputSpec`).
        out: the ``SYN_DIR`` folder (created, or resumed when it holds a run of the same setup).
        model: the construction model (backend spec) of the triage/elements/quizzes/rewrite stages.
        generator: generator spec (default ``imgcoder``).
        backbone: ImgCoder's chat model (default: ``model``).
        generator_options: generator options (``-o key=value``).
        judge: the verification answerer (a backend spec, or ``ocr`` for the offline proxy).
        grader: optional grader for quiz letters and R_inv verdicts (default: the judge).
        policy: the acceptance policy.
        max_attempts: figures tried per item; after a failed verification the failed quizzes are fed back.
        max_reasks: re-asks per construction stage after an unusable reply.
        concurrency: model requests in flight at once across the whole run (the construction model, the
            backbone, the judge and the grader share one limit).
        items_in_flight: items processed at once (default: twice ``concurrency``, so the request limit stays full
            while some items render or wait on their files).
        budget_usd: stop starting new items once this much has been spent in this invocation.
        backend_options: passed to every ``get_backend`` (``cache_dir``, ``max_retries``, ``timeout``, ...).
        progress: show a progress bar.
        push: a Hub dataset repo to upload ``verified/`` to at the end.
        executor: ``local`` (threads here) or ``ray`` (actors on a Ray cluster, one writer actor for ``SYN_DIR``;
            see :mod:`scigenbench.training.ray_synth`). Not part of the identity: a run may resume on the other.
        ray_options: a :class:`~scigenbench.generators.executors.RayOptions` (or a dict of its fields).
    """

    input: InputSpec
    out: str
    model: str
    judge: str
    generator: str = "imgcoder"
    backbone: str | None = None
    generator_options: dict[str, Any] = field(default_factory=dict)
    grader: str | None = None
    policy: AcceptancePolicy = field(default_factory=AcceptancePolicy)
    max_attempts: int = 1
    max_reasks: int = 2
    concurrency: int = 8
    items_in_flight: int | None = None
    budget_usd: float | None = None
    backend_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    push: str | None = None
    executor: str = "local"
    ray_options: Any = None

    def __post_init__(self) -> None:
        from scigenbench.generators.executors import check_executor

        check_executor(self.executor)
        if self.max_attempts < 1:
            raise ValueError(f"--max-attempts must be at least 1, got {self.max_attempts}")
        if self.max_reasks < 0:
            raise ValueError(f"--max-reasks must be at least 0, got {self.max_reasks}")
        if self.concurrency < 1 or (self.items_in_flight is not None and self.items_in_flight < 1):
            raise ValueError(f"--concurrency and --items-in-flight must be at least 1, got {self.concurrency} and "
                             f"{self.items_in_flight}")
        from scigenbench.metrics.specs import is_proxy

        if is_proxy(self.judge) and self.policy.require_rinv:
            raise ValueError("--judge ocr (the OCR proxy) answers multiple-choice quizzes only and cannot check "
                             "R_inv: pass --no-require-rinv, or give a real judge model")
        if is_proxy(self.judge) and self.policy.judge_min:
            raise ValueError("--judge-min needs a real judge model; the OCR proxy cannot rate figures")

    def identity(self) -> dict[str, Any]:
        """The settings that decide the output (a resumed run must use the same)."""
        source = {k: v for k, v in asdict(self.input).items() if k != "limit"}  # a larger --limit extends a run
        return {"input": source, "model": self.model, "generator": self.generator,
                "backbone": self.backbone or self.model, "generator_options": self.generator_options,
                "judge": self.judge, "grader": self.grader, "policy": self.policy.to_dict(),
                "max_attempts": self.max_attempts, "max_reasks": self.max_reasks,
                "prompt_versions": dict(prompting.PROMPT_VERSIONS)}


class SynthContext:
    """What every stage function reads: the config, the backends, the generator, the stores."""

    def __init__(self, config: SynthConfig, *, constructor: Any, generator: Any, judge: Any, grader: Any,
                 proxy: bool, store: StageStore, run: Any):
        self.config, self.constructor, self.generator = config, constructor, generator
        self.judge, self.grader, self.proxy = judge, grader, proxy
        self.store, self.run = store, run
        self.run_lock = threading.Lock()

    def backends(self) -> list[Any]:
        found = [self.constructor, getattr(self.generator, "backend", None), self.judge, self.grader]
        return list({id(b): b for b in found if b is not None}.values())

    def spent(self) -> float:
        """US dollars spent by every backend of this run so far."""
        total = 0.0
        for backend in self.backends():
            stats = backend.stats() if hasattr(backend, "stats") else {}
            total += float(stats.get("cost_usd", 0.0) or 0.0)
        return total

    def calls(self) -> int:
        return sum(int((b.stats() if hasattr(b, "stats") else {}).get("calls", 0) or 0) for b in self.backends())


# --------------------------------------------------------------------------------------------- per item


def process_item(item: dict[str, Any], ctx: SynthContext) -> dict[str, Any]:
    """Run every stage not yet final for one item; returns ``{"id", "stage", "status"}`` of where it ended.

    A :class:`BudgetExceededError` propagates (the stage that hit it stays unrecorded and is redone on resume).
    """
    for name, stage in construct.CONSTRUCTION_STAGES.items():
        record = item.get(name)
        if record is None or not record.get("final"):
            record = stage(item, ctx)
            record = ctx.store.append(name, item["id"], record, final=record["status"] != "error")
            item[name] = record
        if record["status"] not in construct.CONTINUE:
            return {"id": item["id"], "stage": name, "status": record["status"]}
    return generate_and_verify(item, ctx)


def generate_and_verify(item: dict[str, Any], ctx: SynthContext) -> dict[str, Any]:
    """The generation stage (into the run folder) and the verification loop with revisions."""
    from scigenbench.generators.runner import append_output, generate_one

    problem = item["validate"]["output"]
    verifies = [r for r in item.get("verify_rows", [])]
    if verifies and verifies[-1].get("final"):
        return {"id": item["id"], "stage": "verify", "status": verifies[-1]["status"]}
    blind = next((r["blind"] for r in verifies if r.get("blind")), None)
    generated = False
    while True:
        latest = ctx.run.record(item["id"])
        if latest is None or (not verifies and not generated and backend_failure(latest)):
            output = generate_one(ctx.generator, problem)
            with ctx.run_lock:
                append_output(ctx.run, ctx.generator, item["id"], output)
            latest, generated = ctx.run.record(item["id"]), True
        attempt = int(latest.get("attempt") or 1)
        if latest.get("status") != "ok" and not verifies and backend_failure(latest):
            # the model could not be reached: not the item's fault, so nothing final; a resumed run generates again
            return {"id": item["id"], "stage": "generate", "status": "error"}
        if latest.get("status") != "ok":
            earlier = [r for r in verifies if r.get("attempt", 0) < attempt]
            reasons = (earlier[-1]["decision"]["reasons"] if earlier else []) + [f"generation_{latest.get('status')}"]
            status = "rejected" if earlier else "generation_failed"
            return _final_verify(item, ctx, attempt, status, blind, None,
                                 {"accepted": False, "reasons": reasons, "retryable": False},
                                 error=f"generation {latest.get('status')}: {latest.get('error') or ''}"[:500])
        done = next((r for r in verifies if r.get("attempt") == attempt), None)
        if done is None:
            if blind is None:
                blind = blind_checks(problem, ctx.judge, ctx.grader, proxy=ctx.proxy)
            image = ctx.run.image_path(item["id"]).read_bytes()
            seen = image_checks(problem, image, ctx.judge, ctx.grader, proxy=ctx.proxy, policy=ctx.config.policy)
            decision = decide(blind, seen, ctx.config.policy)
            can_revise = hasattr(ctx.generator, "revise") and attempt < ctx.config.max_attempts
            if decision["accepted"] or not decision["retryable"] or not can_revise:
                return _final_verify(item, ctx, attempt, "accepted" if decision["accepted"] else "rejected", blind,
                                     seen, decision)
            done = ctx.store.append("verify", item["id"], {"status": "retry", "attempt": attempt, "blind": blind,
                                                           "seen": seen, "decision": decision}, final=False)
            verifies.append(done)
        output = ctx.generator.revise(problem, latest, quiz_feedback(problem, done, attempt + 1,
                                                                    ctx.config.max_attempts),
                                      prompting.PROMPT_VERSIONS["quiz_feedback"])
        if output.status == "budget_exceeded":
            raise BudgetExceededError(output.error or "budget exceeded")
        with ctx.run_lock:
            append_output(ctx.run, ctx.generator, item["id"], output)


def backend_failure(record: dict[str, Any]) -> bool:
    """True when a generation attempt failed because a model call failed for good (an outage, not the item)."""
    return record.get("status") == "failed" and str(record.get("error") or "").startswith("backbone call failed")


def _final_verify(item: dict[str, Any], ctx: SynthContext, attempt: int, status: str, blind: Any, seen: Any,
                  decision: dict[str, Any], error: str | None = None) -> dict[str, Any]:
    ctx.store.append("verify", item["id"], {"status": status, "attempt": attempt, "blind": blind, "seen": seen,
                                            "decision": decision, "error": error}, final=True)
    return {"id": item["id"], "stage": "verify", "status": status}


def quiz_feedback(problem: dict[str, Any], record: dict[str, Any], next_round: int, max_rounds: int) -> str:
    """The revision request: the quizzes a reader got wrong on the figure (and R_inv, when it failed)."""
    quizzes = problem["quizzes"]
    lines = []
    for index in record["decision"].get("failed_quizzes", []):
        quiz = quizzes[index]
        lines.append(f"- {quiz['question'].strip()} (the figure must make clear: "
                     f"{quiz['options'][quiz['correct_option']]})")
    if any(r.startswith("rinv") for r in record["decision"]["reasons"]):
        lines.append("- A reader could not solve the problem from the figure: every given value must be readable.")
    if not lines:
        lines.append("- The figure did not pass the checks: make every given value and label clearly readable.")
    return prompting.render("quiz_feedback", round=next_round, max_rounds=max_rounds, failures="\n".join(lines))


# --------------------------------------------------------------------------------------------- scheduling


@dataclass
class ScheduleResult:
    """What :func:`schedule` did: the outcome per finished item and why it stopped early, if it did."""

    outcomes: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None  # None | "budget" | "interrupted"
    stop_reason: str | None = None
    not_started: int = 0


def schedule(items: list[dict[str, Any]], work: Callable[[dict[str, Any]], dict[str, Any]], *, concurrency: int,
             may_start: Callable[[int], str | None] = lambda in_flight: None, progress: bool = True,
             desc: str = "synthesize") -> ScheduleResult:
    """Run ``work(item)`` over ``items`` with ``concurrency`` items in flight (the one scheduling function).

    Args:
        items: the work items, started in order.
        work: the per-item function (:func:`process_item` bound to a context); it may raise
            :class:`BudgetExceededError`, which stops the run (the item is then not counted as finished).
        concurrency: items in flight at once.
        may_start: called before each start with the number in flight; a string stops the run (the budget
            check) and is the reason reported.
        progress: show a tqdm bar on stderr.

    The first Ctrl-C stops starting items and waits for the ones in flight (their stages are recorded as they
    finish); a second one gives up on them (their unfinished stages are redone on resume).
    """
    from tqdm.auto import tqdm

    result = ScheduleResult()
    bar = tqdm(total=len(items), disable=not progress, unit="item", file=sys.stderr, desc=desc, dynamic_ncols=True)
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="scigenbench-synth")
    pending: dict[Future, dict[str, Any]] = {}
    queue = iter(items)
    started = 0
    counts: dict[str, int] = {}

    def stop(why: str, reason: str) -> None:
        if not result.stopped:
            result.stopped, result.stop_reason = why, reason
            bar.write(f"stopping ({why}): {reason}") if progress else None

    def collect(future: Future, item: dict[str, Any]) -> None:
        try:
            outcome = future.result()
        except BudgetExceededError as exc:
            stop("budget", str(exc))
            return
        except Exception as exc:  # a bug in a stage must not kill the run: the item is reported, not recorded
            outcome = {"id": item["id"], "stage": "internal", "status": "error", "error": f"{type(exc).__name__}: "
                                                                                          f"{exc}"}
            bar.write(f"[error] {item['id']}: {outcome['error'][:300]}") if progress else None
        result.outcomes.append(outcome)
        counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
        bar.update(1)
        bar.set_postfix(counts, refresh=False)

    try:
        while True:
            while not result.stopped and len(pending) < concurrency:
                item = next(queue, None)
                if item is None:
                    break
                why = may_start(len(pending))
                if why:
                    stop("budget", why)
                    break
                pending[pool.submit(work, item)] = item
                started += 1
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                collect(future, pending.pop(future))
    except KeyboardInterrupt:
        stop("interrupted", "interrupted by the user")
        try:
            for future in list(pending):
                collect(future, pending.pop(future))
        except KeyboardInterrupt:
            pass
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        bar.close()
    result.not_started = len(items) - started
    return result


# --------------------------------------------------------------------------------------------- the run


@dataclass
class SynthSummary:
    """What one invocation did, plus the whole folder's funnel afterwards."""

    out: str
    n_items: int = 0
    n_skipped_rows: int = 0
    n_processed: int = 0
    n_not_started: int = 0
    funnel: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    stopped: str | None = None
    stop_reason: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    #: this invocation processed items and every one of them failed (construction or generation errors)
    all_failed: bool = False
    #: the most common reasons items ended without being accepted: (status, reason, count)
    top_reasons: list[tuple[str, str, int]] = field(default_factory=list)

    def exit_code(self) -> int:
        """0 done (or nothing to do), 1 every item processed in this run failed, 3 stopped by the budget, 130
        interrupted."""
        from scigenbench.generators.runner import exit_status

        return exit_status(self.stopped, self.all_failed)

    def format(self) -> str:
        f = self.funnel
        lines = [f"synthesis {self.out}",
                 f"  this run: {self.n_processed} item(s) processed, {self.n_not_started} not started; "
                 f"{self.n_skipped_rows} input row(s) skipped (see skipped.jsonl)",
                 f"  funnel: input {f.get('input', 0)} → visualizable {f.get('visualizable', 0)} → constructed "
                 f"{f.get('constructed', 0)} → generated {f.get('generated', 0)} → verified {f.get('verified', 0)}",
                 f"  model calls {self.calls}, cost ${self.cost_usd:.4f}, time {self.elapsed_s:.1f}s"]
        if self.stopped:
            lines.append(f"  STOPPED ({self.stopped}): {self.stop_reason}; re-run the same command to resume")
        if self.top_reasons:
            lines.append("  most common reasons items were not accepted (items.jsonl has each one):")
            lines += [f"    {n} × {status}: {reason}" for status, reason, n in self.top_reasons]
        for name, path in self.outputs.items():
            lines.append(f"  {name}: {path}")
        return "\n".join(lines)


def load_items(config: SynthConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """``(items, skipped rows, number of input rows)`` for the configured input."""
    rows = read_rows(config.input)
    items, skipped = make_items(rows, config.input)
    return items, skipped, len(rows)


def synthesize(config: SynthConfig) -> SynthSummary:
    """Run (or resume) a synthesis into ``config.out`` and write its outputs; see the module docstring."""
    from scigenbench.training.output import write_outputs

    started = time.perf_counter()
    out = Path(config.out)
    items, skipped, n_rows = load_items(config)
    _open_synth_dir(out, config, n_rows)
    _write_lines(out / SKIPPED_FILE, skipped)
    ctx = build_context(config)
    try:
        state = ctx.store.state()
        verify_rows: dict[str, list[dict[str, Any]]] = {}
        for row in ctx.store.rows("verify"):
            verify_rows.setdefault(row["id"], []).append(row)
        todo = []
        for item in items:
            item.update(state.get(item["id"], {}))
            item["verify_rows"] = verify_rows.get(item["id"], [])
            if not _item_done(item):
                todo.append(item)
        spent_at_start = ctx.spent()

        def may_start(in_flight: int) -> str | None:
            if config.budget_usd is None:
                return None
            spent = ctx.spent() - spent_at_start
            return (f"budget ${config.budget_usd:.4f} reached: spent ${spent:.4f}" if spent >= config.budget_usd
                    else None)

        worker_calls = worker_spent = 0
        if config.executor == "ray" and todo:
            from scigenbench.training.ray_synth import schedule_on_ray

            result, worker_calls, worker_spent = schedule_on_ray(todo, config, config.ray_options,
                                                                 progress=config.progress)
        else:
            result = schedule(todo, lambda item: process_item(item, ctx),
                              concurrency=config.items_in_flight or ITEMS_PER_REQUEST_SLOT * config.concurrency,
                              may_start=may_start, progress=config.progress)
        summary = SynthSummary(out=str(out), n_items=len(items), n_skipped_rows=len(skipped),
                               n_processed=len(result.outcomes), n_not_started=result.not_started,
                               stopped=result.stopped, stop_reason=result.stop_reason)
        summary.all_failed = bool(result.outcomes) and all(
            o["status"] in ("failed", "error", "generation_failed")
            for o in result.outcomes)
        summary.calls = ctx.calls() + worker_calls
        summary.cost_usd = ctx.spent() - spent_at_start + worker_spent
        report = write_outputs(out, config, items, skipped, n_rows, ctx)
        summary.funnel = report["funnel"]["total"]
        summary.top_reasons = report["top_reasons"]
        summary.outputs = report["outputs"]
    finally:
        close_context(ctx)
    if config.push and not summary.stopped:
        summary.outputs["pushed"] = push_verified(out, config.push)
    summary.elapsed_s = round(time.perf_counter() - started, 2)
    return summary


def _item_done(item: dict[str, Any]) -> bool:
    for name in construct.CONSTRUCTION_STAGES:
        record = item.get(name)
        if record is None or not record.get("final"):
            return False
        if record["status"] not in construct.CONTINUE:
            return True
    rows = item.get("verify_rows") or []
    return bool(rows) and bool(rows[-1].get("final"))


def build_context(config: SynthConfig) -> SynthContext:
    """The backends, the generator, the stores and the run folder of a synthesis (closed by
    :func:`close_context`)."""
    from scigenbench.dataset.runs import RunFolder
    from scigenbench.metrics.specs import is_proxy

    constructor, generator, judge, grader = build_context_parts(config)
    out = Path(config.out)
    store = StageStore(out, STAGES)
    store.recover()
    from scigenbench.generators.runner import open_run

    run = open_run(out / RUN_DIR, generator, dataset="synth")
    assert isinstance(run, RunFolder)
    return SynthContext(config, constructor=constructor, generator=generator, judge=judge, grader=grader,
                        proxy=is_proxy(config.judge), store=store, run=run)


def call_limits(config: SynthConfig) -> Any:
    """The one request limit every backend of a run shares (``--concurrency`` requests in flight)."""
    from scigenbench.generators.backends.limits import CallLimits

    return CallLimits(config.concurrency)


def build_context_parts(config: SynthConfig) -> tuple[Any, Any, Any, Any]:
    """``(constructor, generator, judge, grader)`` of a synthesis (also rebuilt in each Ray worker)."""
    from scigenbench.generators.backends import get_backend
    from scigenbench.metrics.specs import resolve_backend

    options = {"limits": call_limits(config), **config.backend_options}
    constructor = get_backend(config.model, **options)
    generator = build_generator(config, options["limits"])
    judge = resolve_backend(config.judge, **options)
    grader = resolve_backend(config.grader, **options) if config.grader else None
    return constructor, generator, judge, grader


def build_generator(config: SynthConfig, limits: Any = None) -> Any:
    from scigenbench.generators import get_generator

    options = dict(config.generator_options)
    if config.generator.partition(":")[0] == "imgcoder":
        options.setdefault("backbone", config.backbone or config.model)
        for key, value in {"limits": limits or call_limits(config), **config.backend_options}.items():
            options.setdefault(key, value)
    return get_generator(config.generator, **options)


def close_context(ctx: SynthContext) -> None:
    ctx.generator.close()
    for backend in (ctx.constructor, ctx.judge, ctx.grader):
        if backend is not None and hasattr(backend, "close"):
            backend.close()


def _open_synth_dir(out: Path, config: SynthConfig, n_rows: int) -> None:
    """Create ``SYN_DIR/synth.json``, or check that the folder holds a run of the same setup."""
    from scigenbench.dataset.runs import _versions

    identity = config.identity()
    path = out / SYNTH_FILE
    if path.exists():
        existing = json.loads(path.read_text(encoding="utf-8"))
        if existing.get("identity") != identity:
            old = existing.get("identity") or {}
            diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            raise ValueError(f"{out} holds a synthesis with other settings ({', '.join(diff)} differ): re-run with "
                             "the same settings to resume, or choose a new --out folder")
        return
    out.mkdir(parents=True, exist_ok=True)
    info = {"identity": identity, "input_rows": n_rows, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": _versions()}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


def _write_lines(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


def push_verified(out: Path, repo_id: str) -> str:
    """Upload ``SYN_DIR/verified/`` to the Hub dataset repo ``repo_id`` (token from ``HF_TOKEN``/login)."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    api.upload_folder(folder_path=str(out / "verified"), repo_id=repo_id, repo_type="dataset",
                      commit_message="scigenbench synthesize: verified items")
    return f"https://huggingface.co/datasets/{repo_id}"
