"""The evaluation runner: what one item's records are, and how many model requests are in flight.

Two layers with a clean boundary, so another executor (a Ray cluster, a judge panel, K samples) can reuse the
first without the second:

- **compute** — :func:`acompute_item` (async) / :func:`compute_item` (sync): the records of ONE item for a list
  of :class:`ItemTask` (metric × judge × sample). Its image is read once and each encoding of it computed once
  (:class:`~scigenbench.metrics._calls.SourceImage`); every task of the item, and every quiz of a quiz task, runs
  concurrently. Pure: it writes nothing, it only calls models through the backends in :class:`EvalContext`.
- **schedule and persist** — :func:`run_items`: feeds items to :func:`acompute_item` on one event loop, keeps
  enough items open that the shared request limit stays full, and hands each record to a :class:`RecordWriter`
  (batched, crash-safe appends to ``scores/<metric>.jsonl``).

The user's concurrency is the number of model requests in flight across the whole run: the context's backends
share one :class:`~scigenbench.generators.backends.limits.CallLimits` (concurrency, rpm, adaptive), so the judge,
the quiz answerer and both graders draw from one pool.

Extending the scheduled unit: an :class:`ItemTask` names its metric, its judge (a key of
``EvalContext.answerers``) and its sample index; a panel of judges is one task per judge, K samples one task per
sample (``result_key`` must then include them, see :func:`task_key`), and nothing else changes.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from scigenbench.metrics import _calls
from scigenbench.metrics.records import ItemResult

#: records buffered before a write (and at most this many seconds between writes while records arrive)
FLUSH_RECORDS = 256
FLUSH_SECONDS = 2.0


@dataclass(frozen=True)
class ItemTask:
    """One scheduled unit of work: one metric of one item, by one judge, one sample.

    Attributes:
        metric: ``judge``, ``quiz``, ``quiz_blind``, ``rinv`` or ``fidelity``.
        judge: key of the answering/judging backend in :attr:`EvalContext.answerers` (``None``: the default).
        sample: sample index (0 for the usual single answer).
        key: the result-store key under which the record is written.
    """

    metric: str
    key: str
    judge: str | None = None
    sample: int = 0


@dataclass
class EvalContext:
    """Everything an item's records depend on besides the item: backends and protocol switches.

    Attributes:
        answerers: judge/answering backends by id; ``default`` names the one tasks use when they name none.
        graders: grader backend by metric (``quiz``/``quiz_blind``: letter or verification grader; ``rinv``: the
            verdict grader, defaulting to the answerer), ``None`` when a metric has none.
        switches: keyword switches passed to the metric functions (``judge_parse``, ``quiz_grader``, ``options``,
            ``image_encoding``, ``corrupted``, ``fidelity_mode``).
    """

    answerers: dict[str, Any]
    graders: dict[str, Any] = field(default_factory=dict)
    switches: dict[str, str] = field(default_factory=dict)
    default: str | None = None

    def answerer(self, task: ItemTask) -> Any:
        return self.answerers.get(task.judge if task.judge is not None else self.default)


def task_key(base_key: str, sample: int = 0) -> str:
    """A result key extended by the sample index (the judge is already part of ``result_key``)."""
    return base_key if not sample else json.dumps([json.loads(base_key), {"sample": sample}], separators=(",", ":"))


async def acompute_task(ctx: EvalContext, task: ItemTask, problem: dict[str, Any], image: Any,
                        missing_reason: str) -> ItemResult:
    """The record of one task (``image``: a :class:`~scigenbench.metrics._calls.SourceImage` or ``None``)."""
    from scigenbench.metrics import fidelity, judge, quiz, rinv

    sw = ctx.switches
    common = dict(image_encoding=sw.get("image_encoding", "default"), corrupted=sw.get("corrupted", "default"),
                  decoding=sw.get("decoding", "default"))
    answerer = ctx.answerer(task)
    if task.metric == "judge":
        return await judge.ajudge_item(problem, image, answerer, missing_reason=missing_reason,
                                       judge_parse=sw.get("judge_parse", "strict"), **common)
    if task.metric in ("quiz", "quiz_blind"):
        return await quiz.aquiz_item(problem, image, answerer, grader=ctx.graders.get(task.metric),
                                     blind=task.metric == "quiz_blind", missing_reason=missing_reason,
                                     quiz_grader=sw.get("quiz_grader", "rule"), options=sw.get("options", "repaired"),
                                     **common)
    if task.metric == "rinv":
        return await rinv.arinv_item(problem, image, answerer, grader=ctx.graders.get("rinv"),
                                     missing_reason=missing_reason, rinv_verdict=sw.get("rinv_verdict", "default"),
                                     **common)
    if task.metric == "fidelity":
        data = image.data if image is not None else None
        return await asyncio.to_thread(fidelity.fidelity_item, problem, data, problem.get("image"),
                                       mode=sw.get("fidelity_mode", "default"), missing_reason=missing_reason)
    raise ValueError(f"unknown metric {task.metric!r}")


async def acompute_item(ctx: EvalContext, problem: dict[str, Any], image_path: str | Path | None,
                        tasks: list[ItemTask], missing_reason: str = "no image") -> list[ItemResult]:
    """The records of one item for ``tasks`` (same order), all tasks concurrently, the image read once."""
    image = None
    if image_path is not None:
        data = await asyncio.to_thread(Path(image_path).read_bytes)
        image = _calls.SourceImage(data)
    return list(await asyncio.gather(*(acompute_task(ctx, t, problem, image, missing_reason) for t in tasks)))


def compute_item(ctx: EvalContext, problem: dict[str, Any], image_path: str | Path | None, tasks: list[ItemTask],
                 missing_reason: str = "no image") -> list[ItemResult]:
    """Synchronous :func:`acompute_item` (e.g. for a worker process of another executor)."""
    return _calls.run_sync(acompute_item(ctx, problem, image_path, tasks, missing_reason))


@dataclass
class ItemWork:
    """An item with the tasks still to compute and where its image is."""

    problem: dict[str, Any]
    image_path: Path | None
    missing_reason: str
    tasks: list[ItemTask]


class RecordWriter:
    """Batched, crash-safe appends of records to ``<dir>/<metric>.jsonl`` (one line per record, with its key).

    Lines are buffered and written together (one ``write`` + ``fsync`` per file) every :data:`FLUSH_RECORDS`
    records or :data:`FLUSH_SECONDS` seconds, and on :meth:`close`. A crash loses at most the unwritten batch,
    whose answers are in the response cache, so a re-run rebuilds it without model calls; a torn last line is
    skipped on reading and never glued to the next one. Thread-safe.
    """

    def __init__(self, directory: str | os.PathLike, *, flush_records: int = FLUSH_RECORDS,
                 flush_seconds: float = FLUSH_SECONDS):
        self.dir = Path(directory)
        self.flush_records, self.flush_seconds = flush_records, flush_seconds
        self._pending: dict[str, list[str]] = {}
        self._count = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._checked: set[str] = set()

    def add(self, key: str, record: ItemResult) -> None:
        line = json.dumps({"key": key, **record.to_dict()}, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._pending.setdefault(record.metric, []).append(line)
            self._count += 1
            due = self._count >= self.flush_records or time.monotonic() - self._last >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending, self._count = self._pending, {}, 0
            self._last = time.monotonic()
            if not pending:
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            for metric, lines in pending.items():
                path = self.dir / f"{metric}.jsonl"
                with open(path, "ab") as fh:
                    if metric not in self._checked:
                        self._checked.add(metric)
                        if fh.tell() and not _ends_with_newline(path):
                            fh.write(b"\n")  # a torn line from a killed run must not swallow our first one
                    fh.write("".join(lines).encode("utf-8"))
                    fh.flush()
                    os.fsync(fh.fileno())

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


async def run_items(ctx: EvalContext, work: Iterable[ItemWork], writer: RecordWriter | None, *,
                    items_in_flight: int, on_record: Callable[[ItemTask, ItemResult], None] | None = None,
                    on_item: Callable[[ItemWork], None] | None = None) -> None:
    """Compute every item of ``work`` with at most ``items_in_flight`` items open at once (the backends' shared
    limits decide how many requests are in flight), writing each record as soon as its item is done."""
    queue = iter(work)
    lock = asyncio.Lock()

    async def worker() -> None:
        while True:
            async with lock:
                item = next(queue, None)
            if item is None:
                return
            records = await acompute_item(ctx, item.problem, item.image_path, item.tasks, item.missing_reason)
            for task, record in zip(item.tasks, records):
                if writer is not None:
                    writer.add(task.key, record)
                if on_record is not None:
                    on_record(task, record)
            if on_item is not None:
                on_item(item)

    workers = [asyncio.ensure_future(worker()) for _ in range(max(1, items_in_flight))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        if writer is not None:
            writer.flush()
