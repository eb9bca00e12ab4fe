"""Shared fixtures. Tests are offline and deterministic; upstream data comes from SCIGENBENCH_DATA_DIR."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# `datasets` and `huggingface_hub` read their cache locations when first imported, so isolate them here,
# before any test module imports them: tests never read or write the user's caches.
_TEST_CACHE = Path(tempfile.mkdtemp(prefix="scigenbench-tests-"))
os.environ["HF_HOME"] = str(_TEST_CACHE / "hf")
os.environ["HF_DATASETS_CACHE"] = str(_TEST_CACHE / "hf" / "datasets")
os.environ["SCIGENBENCH_CACHE_DIR"] = str(_TEST_CACHE / "scigenbench")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """The upstream release (scigen.json, seephys.json, seephys_images/); skips when not configured."""
    path = os.environ.get("SCIGENBENCH_DATA_DIR")
    if not path or not (Path(path) / "scigen.json").exists():
        pytest.skip("SCIGENBENCH_DATA_DIR is not set to the upstream release")
    return Path(path)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def no_ocr_engine() -> str | None:
    """Why the `ocr` proxy cannot run here (neither RapidOCR nor tesseract), or None."""
    from scigenbench.metrics.demo import ocr_problem

    return ocr_problem()


#: for tests that score with the `ocr` proxy: skipped, with the reason, on a machine with no OCR engine
needs_ocr = pytest.mark.skipif(no_ocr_engine() is not None, reason=f"needs an OCR engine: {no_ocr_engine()}")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_TEST_CACHE, ignore_errors=True)
