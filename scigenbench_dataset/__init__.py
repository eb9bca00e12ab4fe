"""SciGenBench data layer: problem schema, taxonomy, validation, loading, the mini set and run folders.

Light names (taxonomy, :func:`quiz_letters`, :func:`load_mini_problems`) import nothing heavy; the ``datasets``
based ones (:func:`load_scigenbench`, :func:`problem_features`, :class:`SciGenBench`, :class:`RunFolder`) load
``datasets`` on first use. Nothing here imports torch, diffusers, gradio or openai.
"""

from __future__ import annotations

import importlib
from typing import Any

from .mini import load_mini_problems, validate_mini
from .schema import OPTION_LETTERS, SOURCES, problem_features, quiz_letters
from .sources import DEFAULT_BASE_URL, UPSTREAM_COMMIT, UPSTREAM_REPO
from .taxonomy import DOMAINS, IMAGE_TYPES, domain_of
from .validation import Issue, ValidationReport, normalise_rows, validate_data_dir

#: public name -> submodule that defines it (imported on first access: they need ``datasets``)
_LAZY = {
    "SciGenBench": "builder",
    "SciGenBenchConfig": "builder",
    "load_scigenbench": "builder",
    "dataset_summary": "builder",
    "validate_upstream": "builder",
    "RunFolder": "runs",
    "export_dataset": "export",
}

__all__ = [
    "DOMAINS",
    "IMAGE_TYPES",
    "OPTION_LETTERS",
    "SOURCES",
    "DEFAULT_BASE_URL",
    "UPSTREAM_COMMIT",
    "UPSTREAM_REPO",
    "Issue",
    "ValidationReport",
    "domain_of",
    "load_mini_problems",
    "normalise_rows",
    "problem_features",
    "quiz_letters",
    "validate_data_dir",
    "validate_mini",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
