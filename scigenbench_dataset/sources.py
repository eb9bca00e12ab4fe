"""Where the upstream data comes from: the pinned upstream commit, a local copy, or a mirror URL.

Order (see :func:`resolve_data_dir`): an explicit ``data_dir``, then ``$SCIGENBENCH_DATA_DIR``, else a download of
the release files at :data:`UPSTREAM_COMMIT` from :data:`DEFAULT_BASE_URL` (override with
``$SCIGENBENCH_DATA_URL``, e.g. a mirror serving the same files as ``<url>/scigen.json``,
``<url>/seephys.json`` and ``<url>/seephys_images/<id>.png``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: the upstream repository (Apache-2.0)
UPSTREAM_REPO = "SciGenBench/SciGenBench"
#: the last upstream commit that ships scigen.json / seephys.json (PROTOCOL.md "Data pin", short f082af5)
UPSTREAM_COMMIT = "f082af57b04d906d5132923a32de3e3682f72589"
#: the upstream folder holding the files, at the pinned commit
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/{UPSTREAM_COMMIT}/data"

DATA_DIR_ENV = "SCIGENBENCH_DATA_DIR"
DATA_URL_ENV = "SCIGENBENCH_DATA_URL"

#: SHA-256 of the JSON files at the pinned commit; a download that differs is refused
UPSTREAM_SHA256 = {
    "scigen.json": "f9cc7d09045d63558909f2c60f225ca4595a182e51901e619f51a6259f451e27",
    "seephys.json": "4ebd1951440005e57db6b12e965c0e62d90492e142415313c5c1349df96e5604",
}

#: the mini set shipped inside the package
MINI_DIR = Path(__file__).resolve().parent / "mini"
MINI_PROBLEMS_DIR = MINI_DIR / "problems"
MINI_REFERENCES_DIR = MINI_DIR / "references"


def base_url(override: str | None = None) -> str:
    """The URL folder downloads come from: ``override``, ``$SCIGENBENCH_DATA_URL`` or the pinned upstream."""
    return (override or os.environ.get(DATA_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """An explicit ``data_dir``, else ``$SCIGENBENCH_DATA_DIR``, else ``None`` (download)."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or None
    return Path(chosen).expanduser().resolve() if chosen else None


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_fingerprint(config: str, data_dir: str | os.PathLike | None, url: str | None = None) -> str:
    """A short hash identifying the source of a config, so a changed source never hits a stale cache.

    Local folders: content hash of the JSON file plus (name, size, mtime) of each SeePhys image. The mini set:
    content hash of its problem files. Downloads: the base URL (it pins the commit).
    """
    digest = hashlib.sha256(config.encode())
    if config == "mini":
        for path in sorted(MINI_PROBLEMS_DIR.glob("*.json")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    elif data_dir:
        folder = Path(data_dir)
        json_path = folder / f"{config}.json"
        digest.update(str(folder.resolve()).encode())
        digest.update(sha256_file(json_path).encode() if json_path.exists() else b"missing")
        if config == "seephys":
            for image in sorted((folder / "seephys_images").glob("*.png")):
                stat = image.stat()
                digest.update(f"{image.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    else:
        digest.update(base_url(url).encode())
    return digest.hexdigest()[:16]
