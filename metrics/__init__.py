"""Scoring for SciGenBench: LMM judge, inverse quiz, R_inv, image fidelity, aggregation and the leaderboard.

Every metric is a pure function over (problem, image) plus a chat backend that returns an
:class:`~scigenbench.metrics.records.ItemResult` in one of four states (scored, unscored, missing,
not_applicable; PROTOCOL §4). ``summarize`` aggregates them with coverage, strict/lenient means, breakdowns and
bootstrap CIs. ``scigenbench.metrics.evaluation`` runs metrics over a generation run (resumable, cached,
concurrent) and ``scigenbench.metrics.leaderboard`` builds tables and plots.

Heavy dependencies (torch, scikit-image, transformers, pytesseract) load only inside the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ItemResult": "scigenbench.metrics.records",
    "STATES": "scigenbench.metrics.records",
    "judge_item": "scigenbench.metrics.judge",
    "quiz_item": "scigenbench.metrics.quiz",
    "guessing_baseline": "scigenbench.metrics.quiz",
    "rinv_item": "scigenbench.metrics.rinv",
    "fidelity_item": "scigenbench.metrics.fidelity",
    "psnr_ssim": "scigenbench.metrics.fidelity",
    "clip_scores": "scigenbench.metrics.fidelity",
    "fid_kid": "scigenbench.metrics.fidelity",
    "parse_judge": "scigenbench.metrics.parsing",
    "extract_letter": "scigenbench.metrics.parsing",
    "parse_verdict": "scigenbench.metrics.parsing",
    "answers_equivalent": "scigenbench.metrics.equivalence",
    "summarize": "scigenbench.metrics.aggregate",
    "coverage": "scigenbench.metrics.aggregate",
    "pooled_upstream": "scigenbench.metrics.aggregate",
    "resolve_backend": "scigenbench.metrics.specs",
    "OCRProxyBackend": "scigenbench.metrics.ocr",
    "evaluate_run": "scigenbench.metrics.evaluation",
    "build_leaderboard": "scigenbench.metrics.leaderboard",
    "load_metric": "scigenbench.metrics.modules",
    "score_demo": "scigenbench.metrics.demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing the package stays cheap
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'scigenbench.metrics' has no attribute {name!r}")
