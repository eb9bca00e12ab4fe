"""Run a matplotlib program and capture its figure (stdlib + matplotlib only).

Loaded as a top-level module inside the sandbox (by ``_zygote.py``) and by the render benchmark's baselines,
so it must import nothing from ``scigenbench``.

Input rules (what models emit and how it is handled):

* The backend is always Agg: ``matplotlib.use(...)`` and ``plt.switch_backend(...)`` are ignored,
  ``plt.show()``, ``fig.show()`` and ``plt.pause()`` do nothing.
* The program runs as ``__main__``, so ``if __name__ == "__main__":`` blocks execute; ``sys.exit()`` ends it
  normally (the figure is still captured).
* ``savefig`` to a path writes nothing: it takes a snapshot of that figure at that moment (as PNG at the
  sandbox's dpi; ``bbox_inches``, ``pad_inches``, ``facecolor`` and ``edgecolor`` are honoured; ``dpi``,
  ``format`` and ``transparent`` are not). ``savefig`` to a file object also writes to it as usual.
* Which figure is the result: the **last snapshot** if the program called ``savefig``; otherwise the **last
  figure that has content** (axes or artists) among the figures it closed and those still open (in that
  order); otherwise the last figure. Text artists are read from that figure while it is rendered.
* ``random`` and ``numpy.random`` are seeded with 0 before every run, so random data renders identically.
"""

from __future__ import annotations

import builtins
import errno
import io
import linecache
import math
import os
import sys
import traceback

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib._pylab_helpers import Gcf  # noqa: E402
from matplotlib.backends import backend_agg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

USER_FILENAME = "figure.py"
_SAVEFIG_KEEP = ("bbox_inches", "pad_inches", "facecolor", "edgecolor")
MAX_PIXELS = 40_000_000  # a larger figure is refused before Agg tries to allocate it
MAX_SIDE = 20_000
MAX_TEXTS = 20_000  # text artists reported per figure (the host refuses a frame with more)
MAX_TEXT_CHARS = 10_000


class FigureTooLarge(Exception):
    """The figure would exceed the pixel limits at the requested dpi."""


class _State:
    def __init__(self):
        self.dpi = 100
        self.snapshots: list[tuple[bytes, list, tuple[int, int]]] = []
        self.closed: list[Figure] = []
        self.recording: list | None = None


STATE = _State()
_orig_savefig = Figure.savefig
_orig_close = plt.close
_orig_draw_text = backend_agg.RendererAgg.draw_text
_orig_get_renderer = backend_agg.FigureCanvasAgg.get_renderer


def _checked_get_renderer(self):
    """Refuse a raster canvas over the pixel limits before Agg allocates it: every Agg draw comes through here,
    so the check sees the final size (after ``bbox_inches='tight'`` grew it, or the program's own dpi)."""
    w, h = self.get_width_height(physical=True)
    if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
        raise FigureTooLarge(
            f"the canvas to rasterise is {w}x{h} px (the figure's size after layout, bbox_inches='tight' or its dpi), "
            f"over the limit of {MAX_PIXELS // 1_000_000} megapixels / {MAX_SIDE} px per side; "
            "keep the drawing and its texts within a smaller figure")
    return _orig_get_renderer(self)


def _draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
    if STATE.recording is not None and s and str(s).strip():
        # Agg draws with a flipped y axis; report figure pixels with the origin at the bottom left
        STATE.recording.append((str(s), float(x), float(self.height - y), mtext))
    return _orig_draw_text(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)


def _text_kinds(fig: Figure) -> dict[int, str]:
    """id(Text) -> kind for the figure's structural texts (everything else is 'text' or 'annotation')."""
    kinds: dict[int, str] = {}
    for attr, kind in (("_suptitle", "suptitle"), ("_supxlabel", "xlabel"), ("_supylabel", "ylabel")):
        t = getattr(fig, attr, None)
        if t is not None:
            kinds[id(t)] = kind
    legends = list(getattr(fig, "legends", []))
    for ax in fig.axes:
        for attr in ("title", "_left_title", "_right_title"):
            t = getattr(ax, attr, None)
            if t is not None:
                kinds[id(t)] = "title"
        axis_map = getattr(ax, "_axis_map", {}) or {}
        for name, axis in axis_map.items():
            kinds[id(axis.label)] = f"{name}label"
            kinds[id(axis.offsetText)] = "tick"
            for tick in list(getattr(axis, "majorTicks", [])) + list(getattr(axis, "minorTicks", [])):
                kinds[id(tick.label1)] = "tick"
                kinds[id(tick.label2)] = "tick"
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
    for leg in legends:
        for t in leg.get_texts():
            kinds[id(t)] = "legend"
        kinds[id(leg.get_title())] = "legend"
    return kinds


def _render(fig: Figure, kwargs: dict) -> tuple[bytes, list, tuple[int, int]]:
    """PNG bytes, text artists [(text, x, y, kind)] and size of ``fig`` at the sandbox's dpi."""
    w_in, h_in = fig.get_size_inches()
    w_px, h_px = w_in * STATE.dpi, h_in * STATE.dpi
    if w_px * h_px > MAX_PIXELS or max(w_px, h_px) > MAX_SIDE:
        raise FigureTooLarge(
            f"figure of {w_px:.0f}x{h_px:.0f} px (figsize {w_in:g}x{h_in:g} in at {STATE.dpi} dpi) exceeds the "
            f"limit of {MAX_PIXELS // 1_000_000} megapixels / {MAX_SIDE} px per side; use a smaller figsize")
    buf = io.BytesIO()
    STATE.recording = []
    try:
        _orig_savefig(fig, buf, format="png", dpi=STATE.dpi, **kwargs)
        recorded = STATE.recording
    finally:
        STATE.recording = None
    kinds = _text_kinds(fig)
    texts = [(s, round(x, 1), round(y, 1),
              kinds.get(id(m), "annotation" if isinstance(m, Annotation) else "text"))
             for s, x, y, m in recorded]
    png = buf.getvalue()
    return png, texts, (int(round(w_px)), int(round(h_px)))


def _savefig(self, fname, *args, **kwargs):
    keep = {k: kwargs[k] for k in _SAVEFIG_KEEP if k in kwargs}
    STATE.snapshots.append(_render(self, keep))
    if hasattr(fname, "write"):  # the program may use the bytes itself
        return _orig_savefig(self, fname, *args, **kwargs)
    return None


def _figures_to_close(fig) -> list[Figure]:
    if fig is None:
        manager = Gcf.get_active()
        return [manager.canvas.figure] if manager else []
    if isinstance(fig, str) and fig == "all":
        return [m.canvas.figure for m in Gcf.get_all_fig_managers()]
    if isinstance(fig, Figure):
        return [fig]
    for manager in Gcf.get_all_fig_managers():
        if manager.num == fig or manager.canvas.figure.get_label() == fig:
            return [manager.canvas.figure]
    return []


def _close(fig=None):
    STATE.closed.extend(f for f in _figures_to_close(fig) if f not in STATE.closed)
    return _orig_close(fig)


def _noop(*args, **kwargs):
    return None


def install_patches() -> None:
    """Make the program's display and save calls sandbox-friendly (see the module docstring)."""
    plt.switch_backend("Agg")  # resolve the backend before switch_backend becomes a no-op
    Figure.savefig = _savefig
    Figure.show = _noop
    backend_agg.RendererAgg.draw_text = _draw_text
    backend_agg.FigureCanvasAgg.get_renderer = _checked_get_renderer
    plt.close = _close
    plt.show = _noop
    plt.pause = _noop
    plt.switch_backend = _noop
    matplotlib.use = _noop


def _has_content(fig: Figure) -> bool:
    return bool(fig.axes or fig.artists or fig.lines or fig.patches or fig.texts or fig.images
                or getattr(fig, "subfigs", None))


def choose_figure() -> Figure | None:
    """The figure a program meant to draw, when it did not call savefig (rules in the module docstring)."""
    open_figs = [m.canvas.figure for m in sorted(Gcf.get_all_fig_managers(), key=lambda m: m.num)]
    candidates = [f for f in STATE.closed if f not in open_figs] + open_figs
    with_content = [f for f in candidates if _has_content(f)]
    if with_content:
        return with_content[-1]
    return candidates[-1] if candidates else None


def reset(dpi: int) -> None:
    STATE.dpi = int(dpi)
    STATE.snapshots = []
    STATE.closed = []
    STATE.recording = None


def _seed() -> None:
    import random

    random.seed(0)
    try:
        import numpy

        numpy.random.seed(0)
    except Exception:  # numpy is optional for the program
        pass


# ------------------------------------------------------------------------------------------ errors

_BLOCKED_ERRNOS = {errno.EPERM, errno.EACCES, errno.EROFS, errno.ENOSYS, errno.ENETUNREACH, errno.ECONNREFUSED,
                   errno.EHOSTUNREACH, errno.EAFNOSUPPORT, errno.ESRCH,  # ESRCH: other processes are invisible
                   errno.ENXIO}  # ENXIO: reopening the result socket through /proc/self/fd


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify(exc: BaseException, job_dir: str, readable_roots: tuple[str, ...] = ()) -> tuple[str, str]:
    """(status, reason) for an exception raised by the program."""
    for e in _chain(exc):
        if isinstance(e, (MemoryError, FigureTooLarge)):
            return "killed", "memory limit" if isinstance(e, MemoryError) else "image size limit"
        if isinstance(e, OSError) and e.errno == errno.EFBIG:
            return "killed", "file size limit"
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return "killed", "disk limit: the job's scratch space is full"
        if isinstance(e, RuntimeError) and "can't start new thread" in str(e):
            return "killed", "thread limit"
    for e in _chain(exc):
        if isinstance(e, OSError):
            if e.errno in _BLOCKED_ERRNOS:
                return "blocked", "operation not permitted in the sandbox"
            name = e.filename if isinstance(e.filename, str) else None
            if e.errno == errno.ENOENT and name and _outside(name, job_dir, readable_roots):
                return "blocked", "path outside the job directory"
        if type(e).__name__ == "gaierror":
            return "blocked", "no network in the sandbox"
    return "error", ""


def _outside(path: str, job_dir: str, readable_roots: tuple[str, ...]) -> bool:
    full = os.path.normpath(os.path.join(job_dir, path))
    inside = (job_dir, *readable_roots)
    return not any(full == root or full.startswith(root.rstrip("/") + "/") for root in inside)


def user_traceback(exc: BaseException) -> tuple[str, int | None]:
    """The traceback from the program's first frame on, and the line in the program it points to."""
    line = None
    if isinstance(exc, SyntaxError) and exc.filename == USER_FILENAME:
        line = exc.lineno
        text = "".join(traceback.format_exception_only(type(exc), exc))
        return text, line
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != USER_FILENAME:
        tb = tb.tb_next
    walker = tb
    while walker is not None:
        if walker.tb_frame.f_code.co_filename == USER_FILENAME:
            line = walker.tb_lineno
        walker = walker.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    if len(text) > 8000:
        text = "...\n" + text[-8000:]
    return text, line


# ------------------------------------------------------------------------------------------- running


class CappedText(io.TextIOBase):
    """A text stream that keeps at most ``limit`` characters (the program's stdout/stderr)."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.size, self.dropped = limit, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        s = str(s)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def getvalue(self) -> str:
        text = "".join(self.parts)
        return text + (f"\n[... {self.dropped} characters dropped]" if self.dropped else "")


def run_program(code: str, *, dpi: int, job_dir: str, readable_roots: tuple[str, ...] = (),
                output_limit: int = 65536) -> tuple[dict, bytes]:
    """Execute ``code`` as ``__main__`` and capture its figure.

    Returns:
        A header dict (status, error, error_line, stdout, stderr, texts, width, height, reason) and the PNG
        bytes (empty unless the status is ``ok``).
    """
    reset(dpi)
    _seed()
    out, err = CappedText(output_limit), CappedText(output_limit)
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    header: dict = {"status": "ok", "error": None, "error_line": None, "reason": ""}
    png = b""
    try:
        try:
            lines = code.splitlines(True)
            linecache.cache[USER_FILENAME] = (len(code), None, lines, USER_FILENAME)
            compiled = compile(code, USER_FILENAME, "exec", dont_inherit=True)
            globs = {"__name__": "__main__", "__file__": os.path.join(job_dir, USER_FILENAME),
                     "__builtins__": builtins}
            try:
                exec(compiled, globs)
            except SystemExit as e:
                if e.code not in (None, 0):
                    header.update(status="error", error=f"the program called sys.exit({e.code!r})")
            if header["status"] == "ok":
                png, texts, size = _capture_result()
                header["texts"] = [(t[:MAX_TEXT_CHARS], x, y, kind) for t, x, y, kind in texts
                                   if math.isfinite(x) and math.isfinite(y)][:MAX_TEXTS]
                header["width"], header["height"] = size
                if not png:
                    header["status"] = "no_image"
                    header["error"] = "the program drew no figure (no open, closed or saved figure was found)"
        except BaseException as e:  # the program's own failure, whatever it is
            png = b""
            status, reason = classify(e, job_dir, readable_roots)
            text, line = user_traceback(e)
            header.update(status=status, reason=reason, error=text, error_line=line)
    finally:
        sys.stdout, sys.stderr = real_out, real_err
    header["stdout"] = out.getvalue()
    header["stderr"] = err.getvalue()
    return header, png


def _capture_result() -> tuple[bytes, list, tuple[int, int]]:
    if STATE.snapshots:
        return STATE.snapshots[-1]
    fig = choose_figure()
    if fig is None:
        return b"", [], (0, 0)
    return _render(fig, {})


def cleanup() -> None:
    """Close every figure (used by in-process baselines between programs)."""
    _orig_close("all")
    STATE.closed = []
    STATE.snapshots = []


def warm_up() -> None:
    """Render a small figure that touches the lazily loaded parts (fonts, mathtext, patches, legend, 3D)."""
    import numpy as np
    from matplotlib import patches

    fig = plt.figure(figsize=(3, 2))
    ax = fig.add_subplot(1, 2, 1)
    x = np.linspace(0, 1, 20)
    ax.plot(x, x**2, "-o", label="y = x²")
    ax.fill_between(x, 0, x, alpha=0.3)
    ax.add_patch(patches.FancyArrowPatch((0.1, 0.1), (0.8, 0.5), arrowstyle="-|>", mutation_scale=10))
    ax.add_patch(patches.Arc((0.5, 0.5), 0.4, 0.4, theta1=0, theta2=60))
    ax.add_patch(patches.Circle((0.3, 0.7), 0.1, hatch="//", fill=False))
    ax.annotate("θ = 30°", xy=(0.5, 0.5), xytext=(0.7, 0.8), arrowprops=dict(arrowstyle="->"))
    ax.text(0.1, 0.9, r"$F = ma$", fontsize=9, fontweight="bold")
    ax.set_title("warm-up", fontstyle="italic")
    ax.legend()
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    ax3.plot([0, 1], [0, 1], [0, 1])
    buf = io.BytesIO()
    _orig_savefig(fig, buf, format="png", dpi=50)
    _orig_close("all")
    reset(100)
    _seed()  # the first numpy.random.seed() costs ~5-10 ms of lazy set-up: pay it once, before forking
