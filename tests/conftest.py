"""Shared fixtures. Tests are offline and deterministic; upstream data comes from SCIGENBENCH_DATA_DIR."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """The upstream release (scigen.json, seephys.json, seephys_images/); skips when not configured."""
    path = os.environ.get("SCIGENBENCH_DATA_DIR")
    if not path or not (Path(path) / "scigen.json").exists():
        pytest.skip("SCIGENBENCH_DATA_DIR is not set to the upstream release")
    return Path(path)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    """Keep every test's model-response cache and HF caches out of the user's home."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("SCIGENBENCH_CACHE_DIR", str(cache / "scigenbench"))
    monkeypatch.setenv("HF_HOME", str(cache / "hf"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
