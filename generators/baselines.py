"""Baseline generators that draw no diagram.

``text-card`` typesets the problem's given information (the question, optionally the list of elements) as a
plain image. Scored next to real generators, it measures how much a metric rewards text rather than figures:
a judge or quiz answerer that does well on text cards is reading, not looking.

The card is drawn in-process with matplotlib's object-oriented API (trusted code: no model output is
executed), so it needs no sandbox, and the PNG bytes are deterministic for a given problem and config.
"""

from __future__ import annotations

import io
import textwrap
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from scigenbench.generators.base import GenerationOutput, Generator

#: bump when the card's content or layout changes (it is part of the config hash)
TEXT_CARD_VERSION = "text-card-v1"

# matplotlib's font cache and text layout are not documented as thread-safe; cards are cheap, so serialise them
_DRAW_LOCK = threading.Lock()


@dataclass(frozen=True)
class TextCardConfig:
    """Settings that change the card's pixels.

    Attributes:
        width_px: Image width in pixels (the height follows from the text).
        dpi: Rendering resolution; the font size is in points, so this scales the text.
        font_size: Font size in points.
        wrap_chars: Maximum characters per line before wrapping.
        include_elements: Also list the problem's ``elements`` (what the figure should show) under the question.
        max_lines: Lines kept before the text is cut with an ellipsis (bounds the image height).
    """

    width_px: int = 1024
    dpi: int = 100
    font_size: float = 14.0
    wrap_chars: int = 90
    include_elements: bool = False
    max_lines: int = 60

    def __post_init__(self) -> None:
        for name in ("width_px", "dpi", "wrap_chars", "max_lines"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"TextCardConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.font_size <= 0:
            raise ValueError(f"TextCardConfig.font_size must be positive, got {self.font_size!r}")


class TextCard(Generator):
    """Typesets the given information of a problem as an image with no diagram (the ``text-card`` baseline)."""

    name = "text-card"

    def __init__(self, config: TextCardConfig | None = None):
        self.settings = config or TextCardConfig()

    def config(self) -> dict[str, Any]:
        return {"generator": self.name, "version": TEXT_CARD_VERSION, **asdict(self.settings)}

    def generate(self, problem: dict[str, Any]) -> GenerationOutput:
        start = time.perf_counter()
        lines = card_lines(problem, self.settings)
        if not lines:
            return GenerationOutput(status="failed", error=f"problem {problem.get('id')!r} has no question text")
        png = draw_card(lines, self.settings)
        return GenerationOutput(
            status="ok",
            image_png=png,
            timings={"render": round(time.perf_counter() - start, 4)},
            usage={"calls": 0, "cost_usd": 0.0},
            extra={"lines": len(lines), "version": TEXT_CARD_VERSION},
        )


def card_lines(problem: dict[str, Any], settings: TextCardConfig) -> list[str]:
    """The wrapped lines of text on the card (question paragraphs, then optionally the elements)."""
    question = (problem.get("question") or "").strip()
    if not question:
        return []
    lines: list[str] = []
    for paragraph in question.splitlines():
        lines.extend(textwrap.wrap(paragraph, settings.wrap_chars) or [""])
    elements = [str(e).strip() for e in problem.get("elements") or [] if str(e).strip()]
    if settings.include_elements and elements:
        lines += ["", "Elements:"]
        for element in elements:
            lines.extend(textwrap.wrap(element, settings.wrap_chars, initial_indent="• ", subsequent_indent="  "))
    if len(lines) > settings.max_lines:
        lines = lines[: settings.max_lines - 1] + ["…"]
    return lines


def draw_card(lines: list[str], settings: TextCardConfig) -> bytes:
    """Draw ``lines`` top-left aligned on a white card and return deterministic PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    line_height_in = settings.font_size * 1.45 / 72
    margin_in = 0.4
    width_in = settings.width_px / settings.dpi
    height_in = 2 * margin_in + line_height_in * len(lines)
    with _DRAW_LOCK:
        fig = Figure(figsize=(width_in, height_in), dpi=settings.dpi, facecolor="white")
        FigureCanvasAgg(fig)
        # parse_math=False: "$" in questions is shown verbatim instead of failing as bad mathtext
        fig.text(margin_in / width_in, 1 - margin_in / height_in, "\n".join(lines), ha="left", va="top",
                 fontsize=settings.font_size, family="DejaVu Sans", linespacing=1.45, parse_math=False,
                 wrap=False)
        buf = io.BytesIO()
        # no "Software"/date metadata: identical input gives identical bytes
        fig.savefig(buf, format="png", dpi=settings.dpi, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def make_text_card(arg: str | None = None, **options: Any) -> TextCard:
    """Factory for the ``text-card`` spec. Options are :class:`TextCardConfig` fields.

    ``backbone`` and other options meant for model-based generators are rejected with a clear error rather
    than silently ignored.
    """
    if arg:
        raise ValueError(f"text-card takes no argument after ':', got {arg!r}; use plain 'text-card'")
    known = set(TextCardConfig.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"text-card does not take option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    return TextCard(TextCardConfig(**options))
