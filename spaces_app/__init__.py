"""The SciGenBench Hugging Face Space (Gradio): explore, generate with ImgCoder, score, leaderboard.

Importing this package is light: Gradio is imported only by :mod:`scigenbench.app.app`, which defines
:func:`build_app` and :func:`main` (also available here, loaded on first use). The Gradio-free logic is in
:mod:`scigenbench.app.core`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_app", "main"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from scigenbench.app import app

        return getattr(app, name)
    raise AttributeError(f"module 'scigenbench.app' has no attribute {name!r}")
