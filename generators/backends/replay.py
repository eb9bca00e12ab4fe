"""``replay:<file>``: serve recorded answers from a JSONL file (offline demo, tests).

Each line of the file is one recording::

    {"key": "<sha256>", "messages": [...canonical...], "params": {...}, "text": "...",
     "usage": {"prompt_tokens": 0, "completion_tokens": 0}, "model": "..."}

A request matches a recording when :func:`recording_key` of its messages and semantic decoding params equals the
recording's ``key``: the messages (text, and the SHA-256 of every image *as encoded for sending*) and the params
that can change an answer (``temperature``, ``max_tokens``, ...; never ``timeout``, ``prompt_version``, ...).
The backend name and model are *not* part of the key, so one recording serves any spec.

Write recordings with :func:`write_recording` (appends one line atomically). A request with no recording raises
:class:`~.base.ReplayMissError` showing what was asked and how the nearest recording differs.
"""

from __future__ import annotations

import difflib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from scigenbench.generators.backends._messages import (
    canonical_messages, normalize_messages, semantic_params, sha256_json, text_of,
)
from scigenbench.generators.backends.base import ChatBackend, ChatResult, ConfigurationError, ReplayMissError, Usage


def recording_key(messages: list[dict[str, Any]], **params: Any) -> str:
    """The key a request is matched by (raw or normalised messages; any params, non-semantic ones ignored)."""
    return _key(canonical_messages(normalize_messages(messages)), semantic_params(params))


def _key(canonical: list[dict[str, Any]], params: dict[str, Any]) -> str:
    return sha256_json({"messages": canonical, "params": params})


def write_recording(path: str | os.PathLike, messages: list[dict[str, Any]], text: str, *,
                    usage: dict[str, int] | None = None, model: str | None = None, **params: Any) -> str:
    """Append one recording (``messages`` + decoding ``params`` → ``text``) to the JSONL file ``path``.

    Returns:
        The recording's key.
    """
    canonical = canonical_messages(normalize_messages(messages))
    params = semantic_params(params)
    key = _key(canonical, params)
    line = json.dumps({"key": key, "messages": canonical, "params": params, "text": text,
                       "usage": usage or {"prompt_tokens": 0, "completion_tokens": 0}, "model": model},
                      ensure_ascii=False, sort_keys=True) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))  # one O_APPEND write: concurrent writers never interleave lines
    finally:
        os.close(fd)
    return key


def build(path: str = "", base_url: str | None = None) -> "ReplayBackend":
    """Factory used by the registry (``replay:<file>``)."""
    if not path:
        raise ConfigurationError("replay: spec needs a recordings file, e.g. 'replay:recordings.jsonl'",
                                 backend="replay")
    return ReplayBackend(path)


class ReplayBackend(ChatBackend):
    """Answers from recordings; the file is re-read when it changes."""

    name = "replay"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise ConfigurationError(f"replay recordings file {str(self.path)!r} does not exist; create it with "
                                     "scigenbench.generators.backends.replay.write_recording()", backend="replay")
        self.model = self.path.name
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._recordings: dict[str, dict[str, Any]] = {}

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "recordings": str(self.path)}

    def _chat(self, messages: list[dict[str, Any]], *, timeout: float | None = None, **params: Any) -> ChatResult:
        start = time.monotonic()
        canonical, semantic = canonical_messages(messages), semantic_params(params)
        record = self._load().get(_key(canonical, semantic))
        if record is None:
            raise ReplayMissError(self._miss_message(canonical, semantic), backend=self.name, model=self.model)
        usage = record.get("usage") or {}
        return ChatResult(text=record["text"], model=record.get("model") or self.model, backend=self.name,
                          usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
                          latency_s=time.monotonic() - start, provenance={"recording_key": record["key"]})

    def _load(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            mtime = self.path.stat().st_mtime
            if mtime != self._mtime:
                self._recordings = self._read()
                self._mtime = mtime
            return self._recordings

    def _read(self) -> dict[str, dict[str, Any]]:
        recordings = {}
        with open(self.path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    # re-keyed from its content: recordings stay valid when the key's canonical form improves
                    recordings[_key(record["messages"], record.get("params") or {})] = record
                except (ValueError, KeyError, TypeError) as exc:
                    raise ConfigurationError(f"{self.path}:{n}: not a recording ({exc})", backend="replay") from exc
        return recordings

    def _miss_message(self, canonical: list[dict[str, Any]], params: dict[str, Any]) -> str:
        asked = _describe_request(canonical, params)
        recordings = list(self._recordings.values())
        message = (f"replay:{self.path} has no recording for this request ({len(recordings)} recordings in the "
                   f"file).\nAsked: {asked}")
        nearest = _nearest(canonical, params, recordings)
        if nearest is not None:
            message += f"\nNearest recording differs: {nearest}"
        return message + ("\nRecord an answer with scigenbench.generators.backends.replay.write_recording("
                          "path, messages, text, **params).")


def _describe_request(canonical: list[dict[str, Any]], params: dict[str, Any]) -> str:
    text = text_of(canonical[-1:])
    images = [p["sha256"][:12] for m in canonical if isinstance(m["content"], list) for p in m["content"]
              if p["type"] == "image"]
    shown = text if len(text) <= 300 else text[:300] + f"… ({len(text)} chars)"
    return f"{len(canonical)} messages, params {params}, images {images}, last message {shown!r}"


def _nearest(canonical: list[dict[str, Any]], params: dict[str, Any], recordings: list[dict[str, Any]]) -> str | None:
    if not recordings:
        return None
    asked = json.dumps(canonical, sort_keys=True, ensure_ascii=False)
    scored = [(difflib.SequenceMatcher(None, asked, json.dumps(r["messages"], sort_keys=True,
                                                               ensure_ascii=False)).quick_ratio(), r)
              for r in recordings[:2000]]
    _, best = max(scored, key=lambda s: s[0])
    if best["messages"] == canonical:
        return f"same messages, params {best['params']} instead of {params}"
    theirs = json.dumps(best["messages"], sort_keys=True, ensure_ascii=False)
    at = next((i for i, (a, b) in enumerate(zip(asked, theirs)) if a != b), min(len(asked), len(theirs)))
    return (f"messages differ at character {at}: asked …{asked[max(0, at - 40):at + 60]!r}… recorded "
            f"…{theirs[max(0, at - 40):at + 60]!r}… (params recorded: {best['params']})")
