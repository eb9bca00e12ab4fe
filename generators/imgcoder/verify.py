"""Checking a rendered figure against its plan: labels present, answer not leaked, image not blank.

Texts are compared after :func:`normalise_label`, applied to both sides, so that ``"$30^\\circ$"`` drawn with
mathtext matches the planned ``"30°"`` and ``"m=2kg"`` matches ``"m = 2 kg"``. Matches respect token
boundaries (``"A"`` is not found in ``"Area"``). For matplotlib the drawn texts are the figure's own text
artists (:attr:`RenderResult.texts`); for TikZ they are the node texts of the source.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

# --- normalisation ----------------------------------------------------------------------------------------

_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "vartheta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "omicron": "ο", "pi": "π", "varpi": "π", "rho": "ρ", "varrho": "ρ", "sigma": "σ",
    "varsigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ",
    "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}

_SYMBOLS = {
    "times": "×", "cdot": "·", "pm": "±", "mp": "∓", "infty": "∞", "approx": "≈", "sim": "~", "neq": "≠",
    "ne": "≠", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "rightarrow": "→", "to": "→", "leftarrow": "←",
    "Rightarrow": "⇒", "leftrightarrow": "↔", "rightleftharpoons": "⇌", "uparrow": "↑", "downarrow": "↓",
    "degree": "°", "textdegree": "°", "circ": "°", "prime": "'", "angle": "∠", "perp": "⊥",
    "parallel": "∥", "triangle": "△", "ell": "ℓ", "hbar": "ħ", "partial": "∂", "nabla": "∇", "propto": "∝",
    "cap": "∩", "cup": "∪", "in": "∈", "emptyset": "∅", "varnothing": "∅", "ohm": "Ω", "micro": "μ",
    "AA": "Å", "percent": "%", "%": "%", "&": "&", "#": "#", "_": "_", "$": "",
}

_SPACING = re.compile(r"\\[,;:! ]|~|\\quad|\\qquad|\\enspace|\\thinspace")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\^\s*\{\s*o\s*\}|\\(?:text)?degree\b|\\textdegree(?:\{\})?")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_SQRT = re.compile(r"\\sqrt\s*\{([^{}]*)\}")
_FRAC_DIGITS = re.compile(r"\\[dtc]?frac\s*(\d)\s*(\d)")  # \frac12
# a control word swallows the space after it, as in TeX: "\\Delta H" is "ΔH"
_COMMAND = re.compile(r"\\([A-Za-z]+) ?|\\([%&#_$])")
_DASHES = str.maketrans({"−": "-", "–": "-", "—": "-", "‐": "-", "‑": "-", "′": "'", "’": "'", "‘": "'",
                         "“": '"', "”": '"', "˚": "°", "º": "°"})
# spaces around these are dropped: "m = 2" == "m=2", "2 °" == "2°"
_OPERATOR_SPACES = re.compile(r"\s*([=+\-/×·:,;()\[\]<>≤≥≈±°%→⇌'])\s*")
# a number and its unit: "2 kg" == "2kg"
_NUMBER_UNIT_SPACE = re.compile(r"(?<=\d) (?=[^\d\s])")
# commands whose argument is kept and whose name is dropped
_WRAPPERS = {"mathrm", "text", "textrm", "mathbf", "textbf", "mathit", "textit", "mathsf", "mathtt", "vec",
             "overrightarrow", "overline", "hat", "bar", "boldsymbol", "bm", "operatorname", "mathcal", "left",
             "right", "big", "Big", "bigl", "bigr", "displaystyle", "textstyle", "scriptstyle", "ce", "si",
             "SI", "unit", "qty", "num", "textsubscript", "textsuperscript", "emph", "underline", "small",
             "large", "Large", "footnotesize", "tiny", "scriptsize", "normalsize", "huge", "bfseries",
             "itshape", "rmfamily", "sffamily", "ttfamily", "centering", "mbox", "hbox"}


def normalise_label(text: Any) -> str:
    """Normalise a drawn or planned text for comparison.

    Case-folds; strips ``$``, braces, ``_``/``^`` markers and LaTeX spacing; maps ``^\\circ``/``\\degree`` to
    ``°``, Greek commands to letters (``\\theta`` -> ``θ``, ``\\Omega`` -> ``Ω``), common symbols (``\\times``,
    ``\\cdot``, ``\\rightarrow``), ``\\frac{a}{b}`` to ``a/b``; folds Unicode sub/superscripts to plain digits
    (NFKC), unicode minus and dashes to ``-``; collapses whitespace and drops it around operators and between
    a number and its unit.

    >>> normalise_label("$30^\\\\circ$") == normalise_label("30 °")
    True
    >>> normalise_label("$R_{1} = 4\\\\,\\\\Omega$")
    'r1=4ω'
    """
    return _NUMBER_UNIT_SPACE.sub("", _normalise_spaced(text))


def _normalise_spaced(text: Any) -> str:
    """:func:`normalise_label` without merging numbers with their units (token boundaries stay visible)."""
    s = str(text)
    s = _SPACING.sub(" ", s)
    s = _DEGREE.sub("°", s)
    s = _FRAC_DIGITS.sub(r"\1/\2", s)
    for _ in range(4):  # nested: \frac{\sqrt{3}}{2} needs the root first, then the fraction
        before = s
        s = _FRAC.sub(r"\1/\2", _SQRT.sub(r"√\1", s))
        if s == before:
            break
    s = _COMMAND.sub(_command_replacement, s)
    s = s.replace("$", "").replace("{", "").replace("}", "").replace("^", "").replace("_", "")
    s = s.replace("\\", "")
    s = unicodedata.normalize("NFKC", s).translate(_DASHES)
    s = s.casefold()
    s = re.sub(r"\s+", " ", s)
    s = _OPERATOR_SPACES.sub(r"\1", s)
    return s.strip()


def _command_replacement(match: re.Match[str]) -> str:
    name = match.group(1) or match.group(2)
    if name in _GREEK:
        return _GREEK[name]
    if name in _SYMBOLS:
        return _SYMBOLS[name]
    if name in _WRAPPERS:
        return ""
    return name  # \sin -> sin, \log -> log, unknown commands keep their letters


def _boundary_pattern(needle: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])" + re.escape(needle) + r"(?![\w])")


def text_contains(haystack: str, needle: str) -> bool:
    """Whether normalised ``needle`` occurs in normalised ``haystack`` at token boundaries.

    Tried on the space-normalised forms and on the forms with all spaces removed (``"2kg"`` vs ``"2 kg"``).
    """
    h, n = _normalise_spaced(haystack), _normalise_spaced(needle)
    if not n:
        return True
    if _boundary_pattern(n).search(h):
        return True
    h_compact, n_compact = h.replace(" ", ""), n.replace(" ", "")
    return bool(_boundary_pattern(n_compact).search(h_compact))


def find_in_texts(texts: Iterable[str], needle: str) -> str | None:
    """The first drawn text that contains ``needle``, else ``None``.

    Each line of a multi-line text is also tried on its own (a line break separates labels), and finally all
    texts joined (a label split over several artists).
    """
    texts = [t for t in texts if t and t.strip()]
    for text in texts:
        lines = text.splitlines() if "\n" in text else []
        if text_contains(text, needle) or any(text_contains(line, needle) for line in lines):
            return text
    joined = " ".join(texts)
    if len(texts) > 1 and text_contains(joined, needle):
        return "(across several texts)"
    return None


# --- numbers (answer leaks) ---------------------------------------------------------------------------------

# "1.5 \\times 10^{-3}", "1.5×10⁻³", "1.5 x 10^-3" -> "1.5e-3" before normalising (which drops the ^)
_SCI_LATEX = re.compile(r"(\d)\s*(?:\\times|\\cdot|×|·|x|\*)\s*10\s*\^\s*\{?\s*([-+−]?\s*\d+)\s*\}?")
_SCI_UNICODE = re.compile(r"(\d)\s*(?:×|·|x|\*)\s*10([⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)")
_SUPERSCRIPTS = str.maketrans("⁻⁺⁰¹²³⁴⁵⁶⁷⁸⁹", "-+0123456789")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?(?![\d.])", re.IGNORECASE)


def numbers_in(text: str) -> list[float]:
    """Numbers written in ``text`` (normalised first, so ``1.7E+5`` and ``−3`` parse)."""
    text = _SCI_LATEX.sub(lambda m: f"{m.group(1)}e{m.group(2).replace('−', '-').replace(' ', '')}", str(text))
    text = _SCI_UNICODE.sub(lambda m: f"{m.group(1)}e{m.group(2).translate(_SUPERSCRIPTS)}", text)
    out = []
    for token in _NUMBER.findall(_normalise_spaced(text)):
        try:
            out.append(float(token))
        except ValueError:
            continue
    return out


def _significant_digits(value: float) -> int:
    digits = f"{abs(value):.10g}".replace(".", "").lstrip("0")
    digits = digits.split("e")[0]
    return len(digits.rstrip("0")) or 1


def _same_number(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def distinctive_answer(answer: Any, question: str = "", labels: Iterable[str] = ()) -> dict[str, Any]:
    """What of the problem's answer is distinctive enough to search for in the figure.

    An answer is searched for only when finding it would really mean a leak: numbers with at least two
    significant digits that appear neither in the question nor among the planned labels, and short textual
    answers (3–40 characters, no digits) that are not in the question. Long explanatory answers and single
    letters are not searched.

    Returns:
        ``{"numbers": [...], "texts": [...]}`` (both possibly empty).
    """
    text = str(answer or "").strip()
    if not text or len(text) > 80:
        return {"numbers": [], "texts": []}
    context_numbers = numbers_in(question) + [n for label in labels for n in numbers_in(label)]
    numbers = [n for n in numbers_in(text)
               if _significant_digits(n) >= 2 and not any(_same_number(n, c) for c in context_numbers)]
    texts: list[str] = []
    norm = normalise_label(text)
    if not re.search(r"\d", norm) and 3 <= len(norm) <= 40:
        if not text_contains(question, text) and not any(text_contains(label, text) for label in labels):
            texts.append(text)
    return {"numbers": _dedupe_floats(numbers), "texts": texts}


def _dedupe_floats(values: list[float]) -> list[float]:
    out: list[float] = []
    for v in values:
        if not any(_same_number(v, o) for o in out):
            out.append(v)
    return out


# --- TikZ node texts --------------------------------------------------------------------------------------

_TIKZ_NODE = re.compile(r"(?<![A-Za-z])(?:\\node|\\coordinate|node|\\path\s+node)\b")
_TIKZ_LABEL_OPTION = re.compile(r"\b(?:label|pin)\s*=\s*")


def strip_tex_comments(source: str) -> str:
    return re.sub(r"(?<!\\)%.*", "", source)


def _balanced(source: str, start: int, open_ch: str, close_ch: str) -> tuple[str, int] | None:
    """Text inside the bracket pair opening at ``source[start]`` and the index after it."""
    if start >= len(source) or source[start] != open_ch:
        return None
    depth = 0
    for i in range(start, len(source)):
        ch = source[i]
        if ch == "\\":
            continue
        if ch == open_ch and (i == start or source[i - 1] != "\\"):
            depth += 1
        elif ch == close_ch and source[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return source[start + 1:i], i + 1
    return None


def tikz_node_texts(source: str) -> list[str]:
    """The texts a TikZ source puts in nodes: ``\\node[..] (n) at (x,y) {text}``, ``... node[..] {text}``,
    ``label=above:{text}``, ``pin=...`` and quoted ``"text"`` options (``quotes`` library)."""
    src = strip_tex_comments(source)
    texts: list[str] = []
    for match in _TIKZ_NODE.finditer(src):
        i = match.end()
        while i < len(src):
            ch = src[i]
            if ch.isspace():
                i += 1
            elif ch == "[":
                inner = _balanced(src, i, "[", "]")
                if not inner:
                    break
                texts.extend(_option_texts(inner[0]))
                i = inner[1]
            elif ch == "(":
                inner = _balanced(src, i, "(", ")")
                if not inner:
                    break
                i = inner[1]
            elif src.startswith("at", i) and not src[i + 2:i + 3].isalpha():
                i += 2
            elif ch == "{":
                inner = _balanced(src, i, "{", "}")
                if inner:
                    texts.append(inner[0])
                break
            else:
                break
    for match in re.finditer(r"\[", src):  # options anywhere (\draw[..], \pic[..]) may carry labels/quotes
        inner = _balanced(src, match.start(), "[", "]")
        if inner:
            texts.extend(t for t in _option_texts(inner[0]) if t not in texts)
    return [t.strip() for t in texts if t.strip()]


def _option_texts(options: str) -> list[str]:
    out = re.findall(r'"([^"]+)"', options)
    for match in _TIKZ_LABEL_OPTION.finditer(options):
        rest = options[match.end():].lstrip()
        if rest.startswith("{"):
            inner = _balanced(rest, 0, "{", "}")
            rest = inner[0] if inner else rest[1:]
        else:
            rest = rest.split(",")[0]
        rest = re.sub(r"^\s*\[[^\]]*\]", "", rest)  # label={[red]above:text}
        if ":" in rest:
            head, _, tail = rest.partition(":")
            if re.fullmatch(r"\s*[\w\s.-]*\s*", head):  # position such as "above left" or "90"
                rest = tail
        out.append(rest.strip().strip("{}"))
    return out


# --- the checks -----------------------------------------------------------------------------------------


@dataclass
class Check:
    """One verification check. ``items`` lists what failed (missing labels, leaked strings)."""

    name: str
    passed: bool
    detail: str = ""
    items: list[str] = field(default_factory=list)

    def message(self) -> str:
        """The check's failure as an instruction-sized sentence for the repair prompt."""
        return f"{self.name}: {self.detail}" if self.detail else self.name


@dataclass
class Verification:
    """The outcome of :func:`verify`."""

    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def failure_messages(self) -> list[str]:
        return [c.message() for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed, "checks": [asdict(c) for c in self.checks]}


def drawn_texts(render: Any, code: str | None, language: str | None) -> tuple[list[str], list[str]]:
    """``(texts for label search, texts for leak search)`` of a render.

    matplotlib: every text artist for labels; for leaks, tick labels are left out (axis numbers are not an
    answer). TikZ: node texts for both; labels may also be found in the whole source (without comments), as
    node text built by ``\\foreach`` lists does not appear literally in a node.
    """
    if language == "tikz":
        nodes = tikz_node_texts(code or "")
        return nodes + [strip_tex_comments(code or "")], nodes
    artists = list(getattr(render, "texts", None) or [])
    all_texts = [_artist_text(a) for a in artists]
    non_tick = [_artist_text(a) for a in artists if _artist_kind(a) not in ("tick", "xtick", "ytick")]
    return all_texts, non_tick


def _artist_text(artist: Any) -> str:
    return str(artist.get("text", "") if isinstance(artist, dict) else getattr(artist, "text", ""))


def _artist_kind(artist: Any) -> str:
    return str(artist.get("kind", "") if isinstance(artist, dict) else getattr(artist, "kind", ""))


def image_is_blank(png: bytes | None, *, threshold: float = 0.999) -> bool:
    """True when the PNG is missing, undecodable, or one colour covers more than ``threshold`` of it."""
    if not png:
        return True
    try:
        from PIL import Image

        with Image.open(io.BytesIO(png)) as img:
            gray = img.convert("L")
            gray.thumbnail((512, 512))
            hist = gray.histogram()
    except Exception:
        return True
    total = sum(hist)
    return total == 0 or max(hist) / total > threshold


_MISSING_GLYPH = re.compile(r"Glyph (\d+) (?:\([^)]*\) )?missing from (?:current )?font")


def missing_glyphs_in(stderr: str) -> list[str]:
    """Characters matplotlib reported it could not draw (``Glyph N (...) missing from font(s) ...``)."""
    out: list[str] = []
    for code in _MISSING_GLYPH.findall(stderr):
        char = chr(int(code))
        if char not in out:
            out.append(char)
    return out


def verify(render: Any, plan: dict[str, Any], *, problem: dict[str, Any] | None = None, code: str | None = None,
           language: str | None = None, check_answer: bool = True) -> Verification:
    """Check a render against its plan.

    Args:
        render: a :class:`~scigenbench.generators.sandbox.RenderResult` (status, png, texts).
        plan: the structured plan (``labels``, ``must_not_show``, ``language``).
        problem: the problem row; its ``answer`` is searched for when it is distinctive
            (see :func:`distinctive_answer`).
        code: the rendered source (TikZ texts come from it).
        language: ``"python"`` or ``"tikz"`` (default: the plan's).
        check_answer: search for the problem's answer.

    Returns:
        A :class:`Verification` with the checks ``rendered``, ``not_blank``, ``labels_present``,
        ``must_not_show_absent`` and ``answer_not_leaked`` (the last only when ``problem`` is given), plus
        ``glyphs_drawn`` (failed) when matplotlib reported characters its font cannot draw.
    """
    language = language or plan.get("language") or getattr(render, "language", None)
    status = getattr(render, "status", "error")
    checks = [Check("rendered", status == "ok", "" if status == "ok" else f"render status {status}")]
    if status != "ok":
        return Verification(checks)
    blank = image_is_blank(getattr(render, "png", None))
    checks.append(Check("not_blank", not blank, "the image is blank (one colour)" if blank else ""))
    missing_glyphs = missing_glyphs_in(getattr(render, "stderr", "") or "")
    if missing_glyphs:  # matplotlib drew empty boxes: the text artists have the label, the picture does not
        checks.append(Check(
            "glyphs_drawn", False,
            "the font cannot draw these characters (they appear as empty boxes): "
            + ", ".join(repr(c) for c in missing_glyphs) + "; write them another way (e.g. English words, "
            "or mathtext such as $\\alpha$)", missing_glyphs))
    label_texts, leak_texts = drawn_texts(render, code, language)
    labels = [str(x) for x in plan.get("labels") or []]
    missing = [label for label in labels if find_in_texts(label_texts, label) is None]
    checks.append(Check(
        "labels_present", not missing,
        ("planned labels not found in the figure: " + ", ".join(repr(m) for m in missing)) if missing else "",
        missing))
    planned = {normalise_label(label) for label in labels}
    forbidden = [str(x) for x in plan.get("must_not_show") or [] if normalise_label(x) not in planned]
    shown = [item for item in forbidden if find_in_texts(leak_texts, item) is not None]
    checks.append(Check(
        "must_not_show_absent", not shown,
        ("the figure shows text the plan forbids: " + ", ".join(repr(s) for s in shown)) if shown else "",
        shown))
    if problem is not None and check_answer:
        checks.append(_answer_check(problem, labels, leak_texts))
    return Verification(checks)


def _answer_check(problem: dict[str, Any], labels: list[str], leak_texts: list[str]) -> Check:
    target = distinctive_answer(problem.get("answer"), str(problem.get("question") or ""), labels)
    leaked: list[str] = []
    for value in target["numbers"]:
        for text in leak_texts:
            if any(_same_number(value, n) for n in numbers_in(text)):
                leaked.append(text)
                break
    for answer_text in target["texts"]:
        hit = find_in_texts(leak_texts, answer_text)
        if hit is not None:
            leaked.append(hit)
    searched = [f"{n:g}" for n in target["numbers"]] + target["texts"]
    if not searched:
        return Check("answer_not_leaked", True, "answer not distinctive; not searched")
    if leaked:
        return Check("answer_not_leaked", False,
                     "the figure shows the final answer in: " + ", ".join(repr(t) for t in leaked), leaked)
    return Check("answer_not_leaked", True)
