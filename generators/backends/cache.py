"""On-disk response cache: one JSON file per content-hash key, written atomically.

The key is the SHA-256 of ``{backend, model, semantic params, messages}`` where every image is replaced by the
SHA-256 of the exact bytes sent (see ``_messages.canonical_messages``). Settings that cannot change an answer
(timeout, retries, deadline, concurrency, rpm, ``prompt_version``) are not part of it, like inspect_ai's cache.

Layout: ``<cache_dir>/responses/<key[:2]>/<key>.json``. Each entry is written to a temporary file in the same
folder and moved into place with ``os.replace``, so concurrent writers (threads or processes) never leave a
partial file; two writers of the same key simply write the same answer twice. A corrupt or unreadable entry
counts as a miss (and is overwritten by the next successful call). Nothing secret is ever part of an entry.
"""

from __future__ import annotations

import json
import logging
import os
import itertools
import threading
import time
from pathlib import Path
from typing import Any

from scigenbench.generators.backends._messages import sha256_json

logger = logging.getLogger(__name__)

CACHE_ENV = "SCIGENBENCH_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$SCIGENBENCH_CACHE_DIR`` or ``~/.cache/scigenbench``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "scigenbench"


def cache_key(backend: str, model: str, params: dict[str, Any], canonical_messages: list[dict[str, Any]],
              endpoint: str | None = None) -> str:
    """The content hash identifying one request (``params`` must already be the semantic ones).

    ``endpoint`` is the server's public URL (no credentials, no query): two servers that both call their model
    ``llama3`` may serve different weights, so their answers are never shared.
    """
    material = {"backend": backend, "model": model, "params": params, "messages": canonical_messages}
    if endpoint:
        material["endpoint"] = endpoint
    return sha256_json(material)


class ResponseCache:
    """Content-addressed JSON entries under ``root/responses``.

    Args:
        root: cache directory (default :func:`default_cache_dir`).
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root else default_cache_dir()
        self.folder = self.root / "responses"
        self._made: set[str] = set()  # shard folders known to exist (no mkdir per write)
        self._serial = itertools.count()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored entry for ``key``, or ``None`` (missing or unreadable)."""
        path = self.path(key)
        try:
            with open(path, encoding="utf-8") as f:
                entry = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable cache entry %s (%s)", path, exc)
            return None
        return entry if isinstance(entry, dict) and entry.get("key") == key else None

    def put(self, key: str, entry: dict[str, Any]) -> Path:
        """Store ``entry`` (JSON-safe) atomically under ``key``: one write to a temporary name unique to this
        process, thread and write, then ``os.replace`` (no fsync: a lost entry is only a cache miss)."""
        path = self.path(key)
        shard = key[:2]
        if shard not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(shard)
        payload = json.dumps({**entry, "key": key, "stored_at": time.time()}, ensure_ascii=False,
                             default=str).encode("utf-8")
        tmp = f"{path.parent}/.{key[:16]}.{os.getpid()}.{threading.get_ident()}.{next(self._serial)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:  # the shard folder was removed under us (cache cleared mid-run)
            self._made.discard(shard)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def __contains__(self, key: str) -> bool:
        return self.path(key).exists()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.root)!r})"
