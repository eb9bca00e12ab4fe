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
import tempfile
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
        """Store ``entry`` (JSON-safe) atomically under ``key``."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({**entry, "key": key, "stored_at": time.time()}, ensure_ascii=False, default=str)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
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
