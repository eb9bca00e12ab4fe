"""Per-stage, per-id state of a synthesis folder: ``SYN_DIR/stages/<stage>.jsonl``.

Each line is one stage record ``{"id", "stage", "status", "final", "time", ...}`` appended with one ``O_APPEND``
write and an fsync (the run folder's own primitive), so concurrent writers never interleave and a killed process
leaves at most a partial last line, which readers skip and :meth:`StageStore.recover` truncates. The current
record of an id is its latest line; a stage is done for an id when that record is ``final``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable

from scigenbench.dataset.runs import _append_line, _truncate_partial_line, read_jsonl

STAGES_DIR = "stages"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class StageStore:
    """Append-only stage logs of one synthesis folder (thread-safe; one line per write, safe across processes)."""

    def __init__(self, root: str | os.PathLike, stages: Iterable[str]):
        self.dir = Path(root) / STAGES_DIR
        self.stages = tuple(stages)
        self._lock = threading.Lock()

    def path(self, stage: str) -> Path:
        return self.dir / f"{stage}.jsonl"

    def recover(self) -> None:
        """Drop a partial trailing line a killed writer may have left."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for stage in self.stages:
            _truncate_partial_line(self.path(stage))

    def append(self, stage: str, item_id: str, record: dict[str, Any], *, final: bool) -> dict[str, Any]:
        """Record one stage outcome for ``item_id``; returns the row as written."""
        row = {"id": item_id, "stage": stage, **record, "final": bool(final), "time": _now()}
        line = (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode()
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            _append_line(self.path(stage), line)
        return row

    def rows(self, stage: str) -> list[dict[str, Any]]:
        """Every record of ``stage`` in write order."""
        return list(read_jsonl(self.path(stage)))

    def latest(self, stage: str) -> dict[str, dict[str, Any]]:
        """The latest record per id of ``stage``."""
        latest: dict[str, dict[str, Any]] = {}
        for row in read_jsonl(self.path(stage)):
            if isinstance(row.get("id"), str):
                latest[row["id"]] = row
        return latest

    def state(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{id: {stage: latest record}}`` over every stage."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for stage in self.stages:
            for item_id, row in self.latest(stage).items():
                out.setdefault(item_id, {})[stage] = row
        return out
