"""The on-disk format of a generation run: a folder ``datasets`` loads as ``imagefolder``.

Layout::

    RUN_DIR/
      run.json          generator, config, config_hash, dataset, created, versions (written once)
      attempts.jsonl    append-only log: one row per attempt, failures and retries included (source of truth)
      metadata.jsonl    one row per id that has an image (status "ok"), its latest attempt; imagefolder reads it
      <file_name>.png   the images: ``<id>.png``, or a safe name + short hash for other ids (:func:`file_name_for`)
      .tmp/ .lock       scratch for atomic image writes; the lock file serialising writers

Why two logs: ``imagefolder`` yields every metadata row and needs ``file_name`` to be a string, so failed
attempts (no image) and retries (same id twice) cannot live in ``metadata.jsonl``. It therefore holds only rows
with an image, latest per id, and ``load_dataset("imagefolder", data_dir=RUN_DIR)`` always works; every attempt
is in ``attempts.jsonl``. Ids without an image are "missing" (see :meth:`RunFolder.failed_ids`).

Row fields: ``id, generator, config_hash, status, error, plan, code, language, timings, usage, extra`` plus
``file_name`` (``null`` in attempts without an image), ``attempt`` (1, 2, ... per id) and ``time`` (UTC ISO).
``plan``, ``timings``, ``usage``, ``extra`` and ``error`` are stored as **JSON strings** (``null`` when absent):
their nested shapes differ between rows and generators, and Arrow infers one schema per file, so strings keep
every row loadable. :meth:`RunFolder.records` decodes them back; ``json.loads`` does it for a loaded dataset.

Atomicity: an image is written to ``.tmp/``, fsynced and renamed into place before its row is written; each row
is a single ``os.write`` on an ``O_APPEND`` descriptor under a file lock, then fsynced. Readers ignore a
trailing line without newline; opening a run for writing truncates such a partial row, drops stale scratch
files and rebuilds ``metadata.jsonl`` from ``attempts.jsonl`` if a crash left them out of step. A process
killed at any point loses nothing it had finished writing and leaves no half row.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock

RUN_FILE = "run.json"
ATTEMPTS_FILE = "attempts.jsonl"
METADATA_FILE = "metadata.jsonl"
OK = "ok"

#: record fields stored as JSON strings
JSON_FIELDS = ("error", "plan", "timings", "usage", "extra")
#: record fields stored as they are
PLAIN_FIELDS = ("id", "generator", "config_hash", "status", "code", "language")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def config_hash(config: dict[str, Any]) -> str:
    """Short, stable hash of a JSON-serialisable configuration (same recipe as ``generators.base``)."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


#: longest id kept verbatim as a file name (file systems allow 255 bytes per name)
_MAX_PLAIN_NAME = 120


def file_name_for(item_id: str) -> str:
    """The image file name of an id: ``<id>.png``, made filesystem-safe (plus a short hash) when needed.

    Ids with characters outside ``[a-z0-9._-]`` (upper case included: ``A.png`` and ``a.png`` are one file on
    macOS and Windows), a leading dot, or longer than 120 characters get a sanitised, truncated name plus 8 hex
    digits of the id's SHA-256, so names stay valid, short and distinct on every file system.

    ``datasets`` reads a split from any file name token such as ``test`` or ``val`` (``val-001.png``) and then
    silently drops every other file, so such tokens get a ``~`` in front (``~val-001.png``); ``~`` never occurs in
    other names, so names stay distinct.
    """
    safe = _SAFE.sub("_", item_id).lstrip(".")
    if safe != item_id or not safe or len(safe) > _MAX_PLAIN_NAME or safe != safe.lower():
        safe = f"{safe[:80]}-{hashlib.sha256(item_id.encode()).hexdigest()[:8]}"
    safe = _SPLIT_TOKEN.sub(lambda m: f"{m.group(1)}~{m.group(2)}", safe)
    return f"{safe}.png"


#: the split keywords of ``datasets.data_files.SPLIT_KEYWORDS``, as a token between its separators ``-._ 0-9``
_SPLIT_TOKEN = re.compile(r"(^|[-._ 0-9])(training|train|validation|valid|dev|val|testing|test|evaluation|eval)"
                          r"(?=[-._ 0-9]|$)")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for dist in ("scigenbench", "datasets"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _encode_json_field(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _decode_json_field(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file, skipping a trailing partial line (a write cut short) and undecodable lines."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            yield row


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _append_line(path: Path, line: bytes) -> None:
    """Append one complete line with a single ``os.write`` on an ``O_APPEND`` descriptor, then fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        if written != len(line):  # pragma: no cover - a full disk; never leave a half row behind
            os.ftruncate(fd, os.fstat(fd).st_size - written)
            raise OSError(f"short write to {path} ({written} of {len(line)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes, tmp_dir: Path) -> None:
    """Write ``data`` to ``path`` via a fsynced temp file and a rename, so ``path`` is old or new, never half."""
    tmp_dir.mkdir(exist_ok=True)
    tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class RunFolder:
    """A generation run folder: atomic appends, resume information, and loading with ``datasets``.

    Use :meth:`create` for a new run (or to resume one with the same generator and config) and :meth:`open`
    for an existing one. Safe to share between threads; several processes may append under the file lock.
    """

    def __init__(self, path: str | os.PathLike, info: dict[str, Any]) -> None:
        self.path = Path(path)
        self.info = info
        self._thread_lock = threading.Lock()
        self._file_lock = FileLock(str(self.path / ".lock"))
        # index of attempts.jsonl, extended incrementally from _offset (other processes may append too)
        self._offset = 0
        self._latest: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, int] = {}

    # ---------------------------------------------------------------------------------------- opening

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        generator: str,
        config: dict[str, Any],
        dataset: str,
        exist_ok: bool = True,
    ) -> "RunFolder":
        """Create a run folder, or reopen it when it already holds a run of the same generator and config.

        Args:
            path: the run folder (created if needed).
            generator: generator spec/name, e.g. ``"imgcoder"``.
            config: every setting that can change the output; its :func:`config_hash` is recorded.
            dataset: the config generated for (``"scigen"``, ``"seephys"``, ``"mini"``).
            exist_ok: when ``False``, an existing run is an error.

        Raises:
            FileExistsError: the folder holds a run of another generator/config/dataset (or ``exist_ok=False``).
        """
        path = Path(path)
        info = {
            "generator": generator,
            "config": config,
            "config_hash": config_hash(config),
            "dataset": dataset,
            "created": _now(),
            "versions": _versions(),
        }
        run_file = path / RUN_FILE
        if run_file.exists():
            existing = json.loads(run_file.read_text(encoding="utf-8"))
            same = all(existing.get(k) == info[k] for k in ("generator", "config_hash", "dataset"))
            if not exist_ok or not same:
                diff = {k: (existing.get(k), info[k]) for k in ("generator", "config_hash", "dataset")
                        if existing.get(k) != info[k]}
                raise FileExistsError(
                    f"{path} already holds a run" + (f" with a different setup {diff}" if diff else "")
                    + ": resume it with the same generator and config, or choose a new folder."
                )
            return cls.open(path)
        path.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path / ".lock")):
            if not run_file.exists():
                _write_atomic(run_file, json.dumps(info, indent=2, default=str).encode(), path / ".tmp")
        return cls.open(path)

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunFolder":
        """Open an existing run folder and repair what a crash can leave behind (see module docstring).

        Raises:
            FileNotFoundError: ``path`` has no ``run.json``.
        """
        path = Path(path)
        run_file = path / RUN_FILE
        if not run_file.exists():
            raise FileNotFoundError(f"{path} is not a run folder (no {RUN_FILE}); create it with RunFolder.create.")
        run = cls(path, json.loads(run_file.read_text(encoding="utf-8")))
        run.recover()
        return run

    def recover(self) -> None:
        """Truncate a partial trailing row, drop scratch files, and resync ``metadata.jsonl`` with the attempts."""
        with self._locked():
            for name in (ATTEMPTS_FILE, METADATA_FILE):
                _truncate_partial_line(self.path / name)
            shutil.rmtree(self.path / ".tmp", ignore_errors=True)
            expected = self._metadata_rows(self._latest_attempts())
            if list(read_jsonl(self.path / METADATA_FILE)) != expected:
                self._rewrite_metadata(expected)

    def record_selection(self, ids: list[str], *, n_split: int | None = None,
                         criteria: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record in ``run.json`` which items of the split this run was asked to generate (``--limit``, ``--ids``,
        ``--image-types``), so ``evaluate`` scores those items and says "26 of 1,057 scigen items".

        Selections of successive invocations add up (their ids are merged in order), so extending a partial run
        with a larger selection widens it; ``partial`` is false once every item of the split is selected.

        Args:
            ids: the selected item ids.
            n_split: items in the whole split (``None``: unknown, the selection is then taken as the split).
            criteria: how they were chosen (e.g. ``{"limit": 26}``), kept per invocation.
        """
        with self._locked():
            run_file = self.path / RUN_FILE
            info = json.loads(run_file.read_text(encoding="utf-8"))
            previous = info.get("selection") or {}
            merged = list(dict.fromkeys([*(previous.get("ids") or []), *map(str, ids)]))
            total = n_split if n_split is not None else previous.get("n_split")
            history = [*(previous.get("criteria") or []), *([criteria] if criteria else [])]
            info["selection"] = {"ids": merged, "n_selected": len(merged), "n_split": total,
                                 "partial": total is not None and len(merged) < total, "criteria": history}
            _write_atomic(run_file, json.dumps(info, indent=2, default=str).encode(), self.path / ".tmp")
            self.info = info
        return info["selection"]

    # ---------------------------------------------------------------------------------------- writing

    def append(self, record: dict[str, Any], image_png: bytes | None = None) -> dict[str, Any]:
        """Record one attempt atomically; with an image when ``status == "ok"``.

        Args:
            record: ``id`` (required), ``status`` (required; ``"ok"`` needs ``image_png``), and any of
                ``generator, config_hash, error, plan, code, language, timings, usage, extra``. ``generator``
                and ``config_hash`` default to the run's; other keys are kept under ``extra``.
            image_png: the PNG bytes (only with status ``"ok"``).

        Returns:
            The row as stored (JSON fields encoded).

        Raises:
            ValueError: no id/status, ``"ok"`` without a PNG, or a PNG with another status / not a PNG.
        """
        row = self._row(record, image_png)
        with self._locked():
            latest = self._latest_attempts()
            was_published = self._is_published(latest.get(row["id"]))
            row["attempt"] = self._counts.get(row["id"], 0) + 1
            if image_png is not None:
                _write_atomic(self.path / row["file_name"], image_png, self.path / ".tmp")
            line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
            _append_line(self.path / ATTEMPTS_FILE, line)
            latest = self._latest_attempts()
            if row["status"] == OK and not was_published:
                _append_line(self.path / METADATA_FILE, line)
            elif was_published:  # the id's published row changes (new image or a later failure): rewrite
                self._rewrite_metadata(self._metadata_rows(latest))
        return row

    def _row(self, record: dict[str, Any], image_png: bytes | None) -> dict[str, Any]:
        item_id = record.get("id")
        status = record.get("status")
        if not isinstance(item_id, str) or not item_id:
            raise ValueError(f"record needs a non-empty string 'id', got {item_id!r}")
        if not isinstance(status, str) or not status:
            raise ValueError(f"record for {item_id!r} needs a 'status' (e.g. 'ok' or 'failed'), got {status!r}")
        if status == OK and image_png is None:
            raise ValueError(f"record for {item_id!r} has status 'ok' but no image_png; give the PNG or a failure "
                             "status")
        if image_png is not None and status != OK:
            raise ValueError(f"record for {item_id!r} has status {status!r} but an image; only 'ok' rows keep images")
        if image_png is not None and not bytes(image_png[:8]) == _PNG_MAGIC:
            raise ValueError(f"image for {item_id!r} is not PNG bytes (starts with {bytes(image_png[:8])!r})")
        reserved = {"file_name", "attempt", "time"} & set(record)
        if reserved:
            raise ValueError(f"record for {item_id!r} sets {sorted(reserved)}; the run folder computes those")
        record = _fold_unknown_keys(record)
        row = {
            "id": item_id,
            "generator": record.get("generator") or self.info.get("generator"),
            "config_hash": record.get("config_hash") or self.info.get("config_hash"),
            "status": status,
            "code": record.get("code"),
            "language": record.get("language"),
        }
        row.update({name: _encode_json_field(record.get(name)) for name in JSON_FIELDS})
        row["file_name"] = file_name_for(item_id) if image_png is not None else None
        row["time"] = _now()
        return row

    def _is_published(self, row: dict[str, Any] | None) -> bool:
        return bool(row and row.get("status") == OK and row.get("file_name")
                    and (self.path / row["file_name"]).exists())

    def _latest_attempts(self) -> dict[str, dict[str, Any]]:
        """Latest attempt per id (in order of each id's latest attempt), reading only new complete lines."""
        path = self.path / ATTEMPTS_FILE
        try:
            with open(path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return dict(self._latest)
        if self._offset and not data and path.stat().st_size < self._offset:  # truncated by recover()
            self._offset, self._latest, self._counts = 0, {}, {}
            return self._latest_attempts()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                self._latest.pop(row["id"], None)
                self._latest[row["id"]] = row
                self._counts[row["id"]] = self._counts.get(row["id"], 0) + 1
        return dict(self._latest)

    def _metadata_rows(self, latest: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [row for row in latest.values() if self._is_published(row)]

    def _rewrite_metadata(self, rows: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
        _write_atomic(self.path / METADATA_FILE, data, self.path / ".tmp")

    def _locked(self):
        return _Both(self._thread_lock, self._file_lock)

    # ---------------------------------------------------------------------------------------- reading

    def records(self) -> dict[str, dict[str, Any]]:
        """The latest attempt per id (JSON fields decoded), in order of each id's latest attempt."""
        with self._thread_lock:
            latest = self._latest_attempts()
        return {item_id: _decoded(row) for item_id, row in latest.items()}

    def record(self, item_id: str) -> dict[str, Any] | None:
        """The latest attempt of one id (JSON fields decoded), or ``None``; cheaper than :meth:`records` per id."""
        with self._thread_lock:
            self._latest_attempts()
            row = self._latest.get(item_id)
        return None if row is None else _decoded(row)

    def attempts(self) -> list[dict[str, Any]]:
        """Every attempt in write order (JSON fields decoded)."""
        return [_decoded(row) for row in read_jsonl(self.path / ATTEMPTS_FILE)]

    def done_ids(self) -> set[str]:
        """Ids whose latest attempt is ``"ok"`` and whose image file is present."""
        with self._thread_lock:
            latest = self._latest_attempts()
        return {r["id"] for r in self._metadata_rows(latest)}

    def failed_ids(self) -> set[str]:
        """Ids attempted but not done (latest attempt not ``"ok"``, or its image is gone)."""
        with self._thread_lock:
            latest = self._latest_attempts()
        return set(latest) - {r["id"] for r in self._metadata_rows(latest)}

    def image_path(self, item_id: str) -> Path:
        """Where the image of ``item_id`` is (or would be) stored.

        The file name recorded with the id's latest attempt when it has one (so runs written by an older naming
        rule still resolve), else :func:`file_name_for`.
        """
        with self._thread_lock:
            row = self._latest_attempts().get(item_id)
        return self.path / ((row or {}).get("file_name") or file_name_for(item_id))

    def load_dataset(self, **kwargs: Any):
        """The run as a :class:`datasets.Dataset` via ``imagefolder`` (rows with an image; JSON fields as strings).

        A run with no image yet gives an empty dataset with the same columns.
        """
        import datasets

        if not self.done_ids():
            features = run_features()
            return datasets.Dataset.from_dict({name: [] for name in features}, features=features)
        kwargs.setdefault("split", "train")
        return datasets.load_dataset("imagefolder", data_dir=str(self.path), **kwargs)


def run_features():
    """The features ``imagefolder`` infers for a run's ``metadata.jsonl``."""
    import datasets

    string = datasets.Value("string")
    return datasets.Features(
        {"image": datasets.Image(), **{name: string for name in PLAIN_FIELDS + JSON_FIELDS},
         "attempt": datasets.Value("int64"), "time": datasets.Value("timestamp[s]")}
    )


def _fold_unknown_keys(record: dict[str, Any]) -> dict[str, Any]:
    """Keep keys outside the row format under ``extra`` instead of dropping them."""
    unknown = {k: v for k, v in record.items() if k not in PLAIN_FIELDS + JSON_FIELDS}
    if not unknown:
        return record
    extra = record.get("extra")
    extra = dict(extra) if isinstance(extra, dict) else ({} if extra is None else {"extra": extra})
    extra.update(unknown)
    return {**{k: v for k, v in record.items() if k not in unknown}, "extra": extra}


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in JSON_FIELDS:
        out[name] = _decode_json_field(out.get(name))
    return out


def _truncate_partial_line(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())


class _Both:
    """Context manager holding a thread lock and a file lock (filelock's thread behaviour varies by version)."""

    def __init__(self, thread_lock: threading.Lock, file_lock: FileLock) -> None:
        self.thread_lock, self.file_lock = thread_lock, file_lock

    def __enter__(self) -> None:
        self.thread_lock.acquire()
        try:
            self.file_lock.acquire()
        except BaseException:
            self.thread_lock.release()
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            self.file_lock.release()
        finally:
            self.thread_lock.release()
