"""Lazy imports of optional dependencies with errors that name the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

# import name -> (pip distribution, scigenbench extra)
_EXTRAS = {
    "torch": ("torch", "torch"),
    "openai": ("openai", "openai"),
    "gradio": ("gradio", "app"),
    "skimage": ("scikit-image", "fidelity"),
    "scipy": ("scipy", "fidelity"),
    "pytesseract": ("pytesseract", "ocr"),
    "accelerate": ("accelerate", "torch"),
    "playwright": ("playwright", "test"),
    "ray": ("ray[data]", "ray"),
}


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says what to install."""


def require(module: str, *, extra: str | None = None, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip extra.

    >>> require("json").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        dist, default_extra = _EXTRAS.get(top, (top, None))
        extra = extra or default_extra
        what = f" for {purpose}" if purpose else ""
        hint = f"pip install 'scigenbench[{extra}]'" if extra else f"pip install {dist}"
        raise MissingDependencyError(
            f"{module!r} is needed{what} but is not installed ({exc}). Install it with: {hint}"
        ) from exc
