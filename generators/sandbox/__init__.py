"""Confined rendering of model-written matplotlib and TikZ code.

Public API::

    render_python(code, *, timeout=30, dpi=150) -> RenderResult
    render_tikz(source, *, timeout=30, dpi=150) -> RenderResult
    render(code, language, **kw) -> RenderResult
    RendererPool(workers=None)      # thread-safe, context manager, .close()
    get_default_pool() -> RendererPool
    extract_code(text, language) -> str
    doctor() -> dict

Statuses (``RenderResult.status``): ``ok``; ``error`` (the program raised or LaTeX failed: ``error`` holds the
traceback or LaTeX message, ``error_line`` the line in the submitted text; also an invalid result frame, with the
reason, and TikZ refused where TeX cannot be confined); ``timeout`` (wall-clock or CPU
limit); ``killed`` (memory, file-size, disk, image-size or output limit, or a fatal signal); ``blocked`` (the
program tried something the sandbox forbids: network, processes, files outside its job directory, signals
to other processes, shell escape); ``no_image`` (nothing drawn); ``blank_image`` (every pixel the same colour).
"""

from .doctor import doctor
from .extract import extract_code
from .pool import (
    Limits,
    RendererPool,
    SandboxUnavailableError,
    get_default_pool,
    render,
    render_python,
    render_tikz,
)
from .result import STATUSES, RenderResult, TextArtist

__all__ = [
    "STATUSES",
    "Limits",
    "RenderResult",
    "RendererPool",
    "SandboxUnavailableError",
    "TextArtist",
    "doctor",
    "extract_code",
    "get_default_pool",
    "render",
    "render_python",
    "render_tikz",
]
