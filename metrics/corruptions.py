"""The judge-check corruption set: controlled errors made by editing the mini set's reference programs.

Each corruption is a list of text edits applied to one reference program (matplotlib ``.py`` or TikZ ``.tex``),
never a pixel edit, so the corrupted figure is a figure a generator could have drawn. Kinds (:data:`KINDS`):

- ``remove_label``: a label a quiz asks about is blanked;
- ``change_value``: a given value is replaced by one of its quiz's wrong options;
- ``swap_labels``: two labels trade places;
- ``delete_element``: a required drawing (a force, the lens, the field lines, a resistor...) is removed;
- ``draw_answer``: the problem's answer is written into the figure;
- ``overlap_labels``: labels are moved onto one another (matplotlib references only);
- ``reverse_direction``: a physical direction is reversed (a force, a current, a ray, a cycle...).

The set is deterministic for a given :data:`CORRUPTION_SET_VERSION` and reference programs (their SHA-256 is
recorded with each corruption). :func:`render_set` renders every program in the sandbox and keeps a corruption
only when it renders and differs from its reference; :func:`export_set` writes it as an ``imagefolder`` dataset.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

#: bump whenever a rule or a curated edit changes: results of different versions are never comparable
CORRUPTION_SET_VERSION = "1.0"
KINDS = ("remove_label", "change_value", "swap_labels", "delete_element", "draw_answer", "overlap_labels",
         "reverse_direction")
KIND_DESCRIPTIONS = {
    "remove_label": "a label a quiz asks about is blanked",
    "change_value": "a given value is replaced by a wrong option of its quiz",
    "swap_labels": "two labels trade places",
    "delete_element": "a required element is not drawn",
    "draw_answer": "the problem's answer is written into the figure",
    "overlap_labels": "labels are moved onto one another",
    "reverse_direction": "a physical direction (force, current, ray, cycle, axis) is reversed",
}
#: a call whose first occurrence is neutralised (``delete_element``): Python calls become a no-op
_NOOP = "(lambda *_a, **_k: None)"

#: hand-made edits: (find, replace) pairs applied in order; each ``find`` must occur exactly once
CURATED: dict[str, dict[str, list[tuple[str, str]]]] = {
    "mini-physics-incline-friction": {
        "reverse_direction": [('force(contact, 1.5 * up_slope, "f"', 'force(contact, -1.5 * up_slope, "f"')],
        "delete_element": [('force(contact, 1.5 * up_slope, "f"', f'{_NOOP}(contact, 1.5 * up_slope, "f"')],
    },
    "mini-physics-atwood-machine": {
        "reverse_direction": [
            ('xy=(-r, left_top + 1.25), xytext=(-r, left_top)', 'xy=(-r, left_top), xytext=(-r, left_top + 1.25)'),
            ('xy=(r, right_top + 1.25), xytext=(r, right_top)', 'xy=(r, right_top), xytext=(r, right_top + 1.25)')],
        "delete_element": [('ax.annotate("", xy=(-r, left_top + 1.25)', f'{_NOOP}("", xy=(-r, left_top + 1.25)')],
    },
    "mini-physics-two-charges-field": {
        "reverse_direction": [("ax.streamplot(x, y, ex, ey,", "ax.streamplot(x, y, -ex, -ey,")],
        "delete_element": [("ax.streamplot(x, y, ex, ey,", f"{_NOOP}(x, y, ex, ey,")],
    },
    "mini-physics-satellite-orbit": {
        "reverse_direction": [("xy=sat + 2.2 * tangent, xytext=sat", "xy=sat - 2.2 * tangent, xytext=sat")],
        "delete_element": [('ax.annotate("", xy=sat + 2.2 * tangent', f'{_NOOP}("", xy=sat + 2.2 * tangent')],
    },
    "mini-biology-transcription": {
        "reverse_direction": [("xy=(9.2, 3.4), xytext=(6.6, 3.4)", "xy=(6.6, 3.4), xytext=(9.2, 3.4)")],
    },
    "mini-physics-pv-rectangular-cycle": {
        "reverse_direction": [('order = ["A", "B", "C", "D", "A"]', 'order = ["A", "D", "C", "B", "A"]')],
        "delete_element": [('ax.annotate("", xy=tip,', f'{_NOOP}("", xy=tip,')],
    },
    "mini-physics-series-parallel-circuit": {
        "reverse_direction": [("current/.style={-{Stealth[length=3mm]}", "current/.style={{Stealth[length=3mm]}-")],
        "delete_element": [("\\node[vresistor] at (8,2) {};", "")],
    },
    "mini-physics-converging-lens": {
        "reverse_direction": [("xy=(-d_obj, h_obj), xytext=(-d_obj, 0)", "xy=(-d_obj, 0), xytext=(-d_obj, h_obj)")],
        "delete_element": [('ax.annotate("", xy=(0, 6.0)', f'{_NOOP}("", xy=(0, 6.0)')],
    },
    "mini-chemistry-nmr-ester": {
        "reverse_direction": [("ax.set_xlim(5.0, -0.3)", "ax.set_xlim(-0.3, 5.0)")],
    },
    "mini-chemistry-bcc-iron": {
        "delete_element": [("ax.scatter(cx, cy,", f"{_NOOP}(cx, cy,")],
    },
    "mini-math-venn-languages": {
        "delete_element": [("ax.add_patch(Circle((6.1, 3.5)", f"{_NOOP}(Circle((6.1, 3.5)")],
    },
    "mini-universal-calibration-curve": {
        "delete_element": [("ax.scatter(conc, absorbance,", f"{_NOOP}(conc, absorbance,")],
    },
    "mini-math-cone-volume": {
        "delete_element": [('ax.plot([0, 0], [0, h], color="tab:red"', f'{_NOOP}([0, 0], [0, h], color="tab:red"')],
    },
    "mini-physics-standing-wave-string": {
        "delete_element": [('ax.plot(node_x, np.zeros_like(node_x), "ko"',
                            f'{_NOOP}(node_x, np.zeros_like(node_x), "ko"')],
    },
    "mini-biology-cell-magnification": {
        "delete_element": [("ax.add_patch(Circle((-0.5, 0.3), 0.9,", f"{_NOOP}(Circle((-0.5, 0.3), 0.9,")],
    },
}

#: appended to a matplotlib program (before it saves) for ``overlap_labels``: every second text artist is moved
#: onto the one before it
_OVERLAP_CODE = '''
# judge-check corruption (overlap_labels): every second label is moved onto the label before it
import matplotlib.pyplot as _plt
from matplotlib.text import Annotation as _Annotation
_labels = [_t for _ax in _plt.gcf().axes for _t in _ax.texts
           if _t.get_text().strip() and not isinstance(_t, _Annotation)]
for _i in range(1, len(_labels), 2):
    _labels[_i].set_transform(_labels[_i - 1].get_transform())
    _labels[_i].set_position(_labels[_i - 1].get_position())
    _labels[_i].set_horizontalalignment(_labels[_i - 1].get_horizontalalignment())
    _labels[_i].set_verticalalignment(_labels[_i - 1].get_verticalalignment())
'''
_ANSWER_CODE = '''
# judge-check corruption (draw_answer): the answer written into the figure
import matplotlib.pyplot as _plt
_plt.gcf().text(0.5, 0.01, {text!r}, ha="center", va="bottom", fontsize=12, color="black")
'''
#: LaTeX for characters a TikZ answer note may hold (anything else non-ASCII is dropped)
_TEX_CHARS = {"≈": r"$\approx$", "√": r"$\surd$", "²": r"$^2$", "³": r"$^3$", "−": "$-$", "→": r"$\to$",
              "Ω": r"$\Omega$", "°": r"$^\circ$", "μ": r"$\mu$", "·": r"$\cdot$", "×": r"$\times$", "⁻": "$^-$",
              "₁": "$_1$", "₂": "$_2$", "₃": "$_3$", "₄": "$_4$", "₀": "$_0$", "ε": r"$\varepsilon$"}


class CorruptionError(ValueError):
    """An edit does not apply to its reference program (the program changed: bump the set version)."""


@dataclass
class Corruption:
    """One corrupted program: ``edits`` applied to the reference program of ``item_id``."""

    item_id: str
    kind: str
    language: str
    description: str
    edits: list[dict[str, Any]]
    program: str
    reference_sha256: str
    #: indices of the quizzes whose evidence the edit touches (informational)
    targets: list[int] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.item_id}__{self.kind}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"id": self.id, "set_version": CORRUPTION_SET_VERSION}


def reference_program(item_id: str) -> tuple[str, str]:
    """``(source, language)`` of a mini item's reference program."""
    from scigenbench.dataset.sources import MINI_REFERENCES_DIR

    for suffix, language in ((".py", "python"), (".tex", "tikz")):
        path = Path(MINI_REFERENCES_DIR) / f"{item_id}{suffix}"
        if path.exists():
            return path.read_text(encoding="utf-8"), language
    raise FileNotFoundError(f"no reference program for mini item {item_id!r} in {MINI_REFERENCES_DIR}")


def reference_plan(item_id: str) -> dict[str, Any]:
    from scigenbench.dataset.sources import MINI_REFERENCES_DIR

    path = Path(MINI_REFERENCES_DIR) / f"{item_id}.plan.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def apply_edits(code: str, edits: Iterable[dict[str, Any]]) -> str:
    """Apply ``find``/``replace`` edits (each ``find`` must occur exactly once) and ``swap`` edits."""
    for edit in edits:
        if "swap" in edit:
            a, b = edit["swap"]
            _check_once(code, a)
            _check_once(code, b)
            marker = "\x00swap\x00"
            code = code.replace(a, marker).replace(b, a).replace(marker, b)
        else:
            _check_once(code, edit["find"])
            code = code.replace(edit["find"], edit["replace"])
    return code


def _check_once(code: str, text: str) -> None:
    count = code.count(text)
    if count != 1:
        raise CorruptionError(f"edit target {text[:80]!r} occurs {count} times in the reference program (needs 1)")


def _literal(label: str, language: str) -> str:
    return "{" + label + "}" if language == "tikz" else None  # python literals are matched with either quote


def _find_literal(code: str, label: str, language: str) -> str | None:
    """The exact source text of ``label`` as a whole literal (quoted in Python, braced in TikZ), if unique."""
    candidates = [_literal(label, language)] if language == "tikz" else [f'"{label}"', f"'{label}'"]
    found = [c for c in candidates if code.count(c) == 1]
    return found[0] if found else None


def _quiz_labels(problem: dict[str, Any], code: str, language: str) -> list[dict[str, Any]]:
    """For each quiz whose correct option is written inside a plan label literal: the quiz index, the option
    text, the label and its literal in the source."""
    labels = reference_plan(problem["id"]).get("plan", {}).get("labels", [])
    out = []
    for index, quiz in enumerate(problem.get("quizzes") or []):
        correct = (quiz.get("options") or {}).get(quiz.get("correct_option"))
        if not correct:
            continue
        for label in sorted(labels, key=len):
            literal = _find_literal(code, label, language) if _token_in(correct, label) else None
            if literal:
                out.append({"quiz": index, "correct": correct, "label": label, "literal": literal,
                            "distractors": [v for k, v in quiz["options"].items()
                                            if v and k != quiz["correct_option"]]})
                break
    return out


def _token(text: str) -> re.Pattern:
    """``text`` as a whole token: not glued to a letter, digit or decimal point (``8`` is not in ``0.287``)."""
    return re.compile(r"(?<![\w.])" + re.escape(text) + r"(?![\w.])")


def _token_in(text: str, label: str) -> bool:
    return bool(_token(text).search(label))


def _blank(literal: str) -> str:
    return literal[0] + literal[-1]


def _remove_label(problem, code, language, hits) -> tuple[list[dict[str, Any]], str, list[int]] | None:
    if not hits:
        return None
    # the label change_value edits when there is one (the same label blanked instead of falsified), else the first
    hit = next((h for h in hits if re.search(r"\d", h["correct"])), hits[0])
    return ([{"find": hit["literal"], "replace": _blank(hit["literal"])}],
            f"label {hit['label']!r} blanked", [hit["quiz"]])


def _change_value(problem, code, language, hits):
    for hit in hits:
        if not re.search(r"\d", hit["correct"]):
            continue
        wrong = sorted(hit["distractors"], key=lambda d: (d in code, not re.search(r"\d", d)))
        if wrong:
            new = _token(hit["correct"]).sub(lambda _: wrong[0], hit["literal"], count=1)
            return ([{"find": hit["literal"], "replace": new}],
                    f"{hit['correct']!r} changed to {wrong[0]!r} in label {hit['label']!r}", [hit["quiz"]])
    return None


def _swap_labels(problem, code, language, hits):
    distinct = list({h["literal"]: h for h in hits}.values())
    if len(distinct) < 2:
        return None
    a, b = distinct[0], distinct[1]
    return ([{"swap": [a["literal"], b["literal"]]}], f"labels {a['label']!r} and {b['label']!r} swapped",
            [a["quiz"], b["quiz"]])


def _tex_text(text: str) -> str:
    out = "".join(_TEX_CHARS.get(ch, ch if ord(ch) < 128 else "") for ch in text)
    return re.sub(r"([%&#_{}])", r"\\\1", out) if "$" not in out else out.replace("%", r"\%")


def _draw_answer(problem, code, language, hits):
    answer = str(problem.get("answer") or "").strip().splitlines()[0][:90] if problem.get("answer") else ""
    if not answer:
        return None
    if language == "tikz":
        node = ("  \\node[below=4pt, font=\\sffamily] at (current bounding box.south) {Answer: "
                + _tex_text(answer) + "};\n\\end{tikzpicture}")
        return [{"find": "\\end{tikzpicture}", "replace": node}], f"answer {answer!r} written below", []
    return _before_save(code, _ANSWER_CODE.format(text=f"Answer: {answer}")), f"answer {answer!r} written", []


def _overlap_labels(problem, code, language, hits):
    if language != "python":
        return None
    return _before_save(code, _OVERLAP_CODE), "every second label moved onto the one before it", \
        sorted({h["quiz"] for h in hits})


def _before_save(code: str, snippet: str) -> list[dict[str, Any]]:
    """An edit inserting ``snippet`` before the program's last ``savefig`` line (or at its end)."""
    lines = code.splitlines(keepends=True)
    saves = [i for i, line in enumerate(lines) if re.match(r"\s*(fig|plt)\.savefig\(", line)]
    if saves and code.count(lines[saves[-1]]) == 1:
        return [{"find": lines[saves[-1]], "replace": snippet.lstrip("\n") + lines[saves[-1]]}]
    return [{"find": code[-40:], "replace": code[-40:] + "\n" + snippet}]


def _curated(kind: str):
    def rule(problem, code, language, hits):
        pairs = CURATED.get(problem["id"], {}).get(kind)
        if not pairs:
            return None
        return ([{"find": f, "replace": r} for f, r in pairs], f"{KIND_DESCRIPTIONS[kind]} (curated edit)", [])
    return rule


RULES = {"remove_label": _remove_label, "change_value": _change_value, "swap_labels": _swap_labels,
         "delete_element": _curated("delete_element"), "draw_answer": _draw_answer,
         "overlap_labels": _overlap_labels, "reverse_direction": _curated("reverse_direction")}


def build_corruptions(problems: list[dict[str, Any]] | None = None, kinds: Iterable[str] | None = None,
                      items: Iterable[str] | None = None) -> list[Corruption]:
    """The corrupted programs of the mini set (text edits only; nothing rendered yet).

    Args:
        problems: mini problems (default: the packaged mini set).
        kinds: corruption kinds (default: all of :data:`KINDS`).
        items: item ids to use (default: every item with a reference program).
    """
    if problems is None:
        from scigenbench.dataset import load_mini_problems

        problems = load_mini_problems()
    kinds = list(kinds or KINDS)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown corruption kind(s) {unknown}; choose from {', '.join(KINDS)}")
    wanted = set(items) if items else None
    out = []
    for problem in problems:
        if wanted is not None and problem["id"] not in wanted:
            continue
        try:
            code, language = reference_program(problem["id"])
        except FileNotFoundError:
            continue
        hits = _quiz_labels(problem, code, language)
        sha = hashlib.sha256(code.encode("utf-8")).hexdigest()
        for kind in kinds:
            made = RULES[kind](problem, code, language, hits)
            if made is None:
                continue
            edits, description, targets = made
            out.append(Corruption(problem["id"], kind, language, description, edits, apply_edits(code, edits), sha,
                                  targets))
    return out


@dataclass
class RenderedSet:
    """References and corruptions that rendered; ``dropped`` says why the others were left out."""

    references: dict[str, bytes]
    corruptions: list[tuple[Corruption, bytes]]
    dropped: list[dict[str, str]]


def images_differ(a: bytes, b: bytes) -> float:
    """Fraction of pixels that differ between two images (1.0 when their sizes differ)."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(a)) as ia, Image.open(io.BytesIO(b)) as ib:
        if ia.size != ib.size:
            return 1.0
        pa = np.asarray(ia.convert("RGB"), dtype=np.int16)
        pb = np.asarray(ib.convert("RGB"), dtype=np.int16)
    return float((np.abs(pa - pb).sum(axis=2) > 0).mean())


def render_set(corruptions: list[Corruption], *, workers: int = 2, timeout: float = 60.0) -> RenderedSet:
    """Render each reference and corrupted program in the sandbox; keep a corruption only when it renders ``ok``
    and its image differs from its reference's."""
    from concurrent.futures import ThreadPoolExecutor

    from scigenbench.generators.sandbox import RendererPool

    ids = list(dict.fromkeys(c.item_id for c in corruptions))
    with RendererPool(workers=workers) as pool:
        def render(code_language):
            return pool.render(code_language[0], code_language[1], timeout=timeout)

        with ThreadPoolExecutor(max_workers=workers) as threads:
            refs = list(threads.map(render, [reference_program(i) for i in ids]))
            outs = list(threads.map(render, [(c.program, c.language) for c in corruptions]))
    references, dropped = {}, []
    for item_id, result in zip(ids, refs):
        if result.status == "ok" and result.png:
            references[item_id] = result.png
        else:
            dropped.append({"id": item_id, "reason": f"reference did not render: {result.status}: {result.error}"})
    kept = []
    for corruption, result in zip(corruptions, outs):
        reason = None
        if corruption.item_id not in references:
            reason = "its reference did not render"
        elif result.status != "ok" or not result.png:
            reason = f"did not render: {result.status}: {(result.error or '')[-300:]}"
        elif images_differ(references[corruption.item_id], result.png) == 0.0:
            reason = "renders identical to its reference"
        if reason:
            dropped.append({"id": corruption.id, "reason": reason})
        else:
            kept.append((corruption, result.png))
    return RenderedSet(references, kept, dropped)


def export_set(rendered: RenderedSet, out_dir: str | Path) -> Path:
    """Write the rendered set as an ``imagefolder`` dataset: ``images/*.png``, ``metadata.jsonl`` (one row per
    image: references with ``kind="reference"``) and a ``README.md`` card. ``load_dataset("imagefolder",
    data_dir=out_dir)`` reads it."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for item_id, png in rendered.references.items():
        code, language = reference_program(item_id)
        name = f"images/{item_id}__reference.png"
        (out / name).write_bytes(png)
        rows.append({"file_name": name, "id": f"{item_id}__reference", "item_id": item_id, "kind": "reference",
                     "language": language, "description": "the reference figure", "edits": "[]", "program": code,
                     "reference_sha256": hashlib.sha256(code.encode("utf-8")).hexdigest(), "targets": [],
                     "set_version": CORRUPTION_SET_VERSION})
    for corruption, png in rendered.corruptions:
        name = f"images/{corruption.id}.png"
        (out / name).write_bytes(png)
        row = corruption.to_dict()
        row.update(file_name=name, edits=json.dumps(corruption.edits, ensure_ascii=False))
        rows.append(row)
    with (out / "metadata.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "README.md").write_text(_card(rendered), encoding="utf-8")
    return out


def _card(rendered: RenderedSet) -> str:
    counts = {k: sum(c.kind == k for c, _ in rendered.corruptions) for k in KINDS}
    table = "\n".join(f"| `{k}` | {counts[k]} | {KIND_DESCRIPTIONS[k]} |" for k in KINDS)
    return f"""---
license: apache-2.0
pretty_name: SciGenBench judge-check corruptions v{CORRUPTION_SET_VERSION}
task_categories:
- visual-question-answering
tags:
- scientific-images
- llm-as-a-judge
- meta-evaluation
---

# SciGenBench judge-check corruption set (v{CORRUPTION_SET_VERSION})

A small meta-benchmark for judges of scientific figures: the reference figures of the SciGenBench mini set and
controlled corruptions of them, each made by **editing the figure's program** (matplotlib or TikZ), rendered in
the scigenbench sandbox and checked to differ from its reference. A judge that notices what is wrong scores a
reference above its corruption. Made by `scigenbench judge-check` (corruption set version
{CORRUPTION_SET_VERSION}).

| kind | corruptions | what changes |
|---|---|---|
{table}

{len(rendered.references)} references. Columns: `file_name` (image), `id`, `item_id` (the mini problem),
`kind` (`reference` or a corruption kind), `description`, `edits` (JSON list of the text edits), `program` (the
rendered source), `language`, `reference_sha256` (of the reference program the edits apply to), `targets`
(indices of the quizzes whose evidence the edit touches) and `set_version`.
{len(rendered.dropped)} candidate(s) were left out (did not render or rendered identical to the reference).

```python
from datasets import load_dataset
ds = load_dataset("imagefolder", data_dir="<this folder>", split="train")
```
"""
