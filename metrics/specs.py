"""Backend specs for judges and graders: everything ``get_backend`` accepts, plus ``ocr`` (the proxy answerer)."""

from __future__ import annotations

from typing import Any

#: specs resolved here rather than by the backends registry (``ocr`` or ``ocr:<engine>``)
PROXY_SPECS = {"ocr"}


def _is_proxy_spec(spec: str) -> bool:
    return spec.strip().partition(":")[0] in PROXY_SPECS


def resolve_backend(spec: str | Any, **options: Any) -> Any:
    """A chat backend for ``spec``.

    Args:
        spec: a backend spec string (``openai:<model>@<url>``, ``fake``, ``replay:<file>``, ...), ``"ocr"`` (or
            ``ocr:rapidocr``, ``ocr:tesseract``) for the OCR proxy answerer, or an already built backend (returned
            unchanged).
        **options: passed to ``get_backend`` (``cache``, ``max_retries``, ``timeout``, ``concurrency``, ...).
    """
    if not isinstance(spec, str):
        return spec
    from scigenbench.generators.backends import get_backend

    if _is_proxy_spec(spec):
        register_ocr_backend()
        options.pop("responses", None)

    return get_backend(spec, **options)


def is_proxy(spec: str | Any) -> bool:
    """True for the OCR proxy (by spec or by backend)."""
    if isinstance(spec, str):
        return _is_proxy_spec(spec)
    return bool(getattr(spec, "describe", lambda: {})().get("proxy"))


def register_ocr_backend() -> bool:
    """Register ``ocr`` in the backends registry (``get_backend("ocr")``) when that registry exists and does not
    have it yet. Returns whether ``ocr`` is now registered there."""
    try:
        from scigenbench.generators import backends
    except ImportError:
        return False
    registry = getattr(backends, "BACKENDS", None)
    if registry is None or not hasattr(registry, "register"):
        return False
    if "ocr" not in registry:
        try:
            registry.register("ocr", "scigenbench.metrics.ocr:make_ocr_backend")
        except ValueError:  # registered concurrently
            pass
    return True
