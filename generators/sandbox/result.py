"""Structured outcome of rendering one program in the sandbox."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: every status a render can end in
STATUSES = ("ok", "error", "timeout", "killed", "blocked", "no_image", "blank_image")


@dataclass
class TextArtist:
    """A string drawn in a matplotlib figure, with its position in figure pixels (origin bottom-left)."""

    text: str
    x: float
    y: float
    kind: str = "text"  # text, title, suptitle, xlabel, ylabel, zlabel, tick, legend, annotation


@dataclass
class RenderResult:
    """What one sandboxed render produced; ``status`` is one of :data:`STATUSES` (see the package docstring)."""

    status: str
    language: str  # "python" | "tikz"
    png: bytes | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # Python traceback (user code only) or the LaTeX error
    error_line: int | None = None  # line in the submitted source the error points to
    wall_s: float = 0.0
    cpu_s: float = 0.0
    texts: list[TextArtist] = field(default_factory=list)  # matplotlib only
    width: int | None = None
    height: int | None = None
    confinement: list[str] = field(default_factory=list)  # layers active for this job

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self, *, with_png: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_png:
            d.pop("png")
        return d
