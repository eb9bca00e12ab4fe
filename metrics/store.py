"""Per-metric result files next to a run: ``RUN_DIR/scores/<metric>.jsonl`` (append-only log) + Parquet snapshot.

Each line is one :class:`ItemResult` plus its ``key`` = (id, metric, judge model, grader model, prompt version,
SHA-256 of the image file, active compatibility switches). Appends are whole lines written under a lock and flushed, so a killed evaluation
loses at most the item in flight. The *current* result of an item is the latest line whose key matches what
would be evaluated now; an item is therefore never counted twice, and a changed image, judge or prompt is
re-evaluated rather than mixed in.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable

from scigenbench.metrics.records import ItemResult

#: the folder inside a run where results live. Not "eval": ``datasets`` would read that name as a test split and
#: ``load_dataset("imagefolder", data_dir=RUN)`` would then find no images.
RESULTS_DIR = "scores"


def result_key(item_id: str, metric: str, judge: str | None, grader: str | None, prompt_version: str | None,
               file_sha256: str | None, switches: str = "") -> str:
    """The identity of a result; ``switches`` names active compatibility switches (empty by default)."""
    parts = [str(item_id), metric, judge, grader, prompt_version, file_sha256] + ([switches] if switches else [])
    return json.dumps(parts, separators=(",", ":"))


class ResultStore:
    """The JSONL log of one metric for one run."""

    def __init__(self, eval_dir: str | os.PathLike, metric: str):
        self.dir = Path(eval_dir)
        self.metric = metric
        self.path = self.dir / f"{metric}.jsonl"
        self._lock = threading.Lock()

    def load(self) -> dict[str, dict[str, Any]]:
        """Latest row per key. A torn last line (killed writer) is skipped."""
        latest: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return latest
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                latest[row["key"]] = row
        return latest

    def append(self, key: str, record: ItemResult) -> None:
        line = json.dumps({"key": key, **record.to_dict()}, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())


def write_parquet(path: str | os.PathLike, records: Iterable[ItemResult]) -> Path:
    """A Parquet snapshot of current records (nested fields as JSON strings, so the schema is fixed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for r in records:
        d = r.to_dict()
        for field in ("details", "usage", "switches"):
            d[field] = json.dumps(d[field], ensure_ascii=False, default=str)
        d["score"] = None if d["score"] is None else float(d["score"])
        rows.append(d)
    names = list(ItemResult.__dataclass_fields__)
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        (n, pa.float64() if n == "score" else pa.int64() if n == "calls" else pa.string()) for n in names]))
    path = Path(path)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path
