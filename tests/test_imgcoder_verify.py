"""ImgCoder's verification: the label normaliser, label/leak/blank checks, TikZ node texts.

``verify`` is a pure function of a render result; these tests build the render results (texts + a PNG made
with Pillow) as input data. The real sandbox renders are checked in test_imgcoder_replay.py.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from scigenbench.generators.imgcoder.verify import (
    distinctive_answer,
    image_is_blank,
    normalise_label,
    text_contains,
    tikz_node_texts,
    verify,
)
from scigenbench.generators.sandbox.result import RenderResult, TextArtist


def _png(blank: bool = False) -> bytes:
    img = Image.new("RGB", (200, 150), "white")
    if not blank:
        ImageDraw.Draw(img).rectangle([40, 40, 160, 110], outline="black", width=3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _render(*texts: str | tuple[str, str], blank: bool = False, status: str = "ok") -> RenderResult:
    artists = [TextArtist(t, 0, 0) if isinstance(t, str) else TextArtist(t[0], 0, 0, t[1]) for t in texts]
    return RenderResult(status=status, language="python", png=_png(blank) if status == "ok" else None,
                        texts=artists)


@pytest.mark.parametrize("drawn,planned", [
    ("$30^\\circ$", "30°"),
    ("30 °", "30°"),
    ("$30^{\\circ}$", "30 °"),
    ("30\\degree", "30°"),
    ("$\\theta$", "θ"),
    ("Θ", "θ"),
    ("$R_1 = 4\\,\\Omega$", "R₁ = 4 Ω"),
    ("R_{1}=4Ω", "R₁ = 4 Ω"),
    ("$m=2\\,\\mathrm{kg}$", "m = 2 kg"),
    ("M = 2 KG", "m = 2 kg"),
    ("v₀ = 5 m/s²", "$v_0 = 5\\ \\mathrm{m/s^2}$"),
    ("F\n=\n10 N", "F = 10 N"),
    ("x = −3", "x = -3"),
    ("$\\frac{1}{2}$", "1/2"),
    ("$\\Delta H = -286\\ \\text{kJ/mol}$", "ΔH = −286 kJ/mol"),
    ("H$_2$O", "H₂O"),
])
def test_normaliser_makes_equivalent_spellings_equal(drawn, planned):
    assert normalise_label(drawn) == normalise_label(planned)


@pytest.mark.parametrize("a,b", [("30°", "30"), ("θ", "φ"), ("m = 2 kg", "m = 20 kg"), ("H₂O", "H₂O₂")])
def test_normaliser_keeps_different_texts_different(a, b):
    assert normalise_label(a) != normalise_label(b)


def test_matching_respects_token_boundaries():
    assert not text_contains("Area", "A")
    assert text_contains("point A", "A")
    assert not text_contains("m = 25 kg", "m = 2 kg")
    assert text_contains("block: m=2kg", "m = 2 kg")


def test_verify_passes_when_every_label_is_drawn():
    plan = {"labels": ["30°", "m = 2 kg", "θ"], "must_not_show": ["4.9 m/s²"]}
    result = verify(_render("$30^\\circ$", "$m = 2$ kg", "$\\theta$", ("0.5", "tick")), plan)
    assert result.passed, result.to_dict()


def test_verify_names_the_missing_labels():
    plan = {"labels": ["30°", "m = 2 kg", "μ = 0.2"]}
    result = verify(_render("30°"), plan)
    assert result.failed == ["labels_present"]
    labels = next(c for c in result.checks if c.name == "labels_present")
    assert labels.items == ["m = 2 kg", "μ = 0.2"]
    assert "'μ = 0.2'" in labels.detail


def test_verify_catches_must_not_show_text():
    plan = {"labels": ["30°"], "must_not_show": ["a = 4.9 m/s²"]}
    result = verify(_render("30°", "$a = 4.9\\,\\mathrm{m/s^2}$"), plan)
    assert result.failed == ["must_not_show_absent"]


def test_must_not_show_that_is_also_a_planned_label_is_ignored():
    plan = {"labels": ["30°"], "must_not_show": ["30°"]}
    assert verify(_render("30°"), plan).passed


def test_verify_catches_the_problems_distinctive_answer():
    problem = {"question": "A 2 kg block slides down a 30° incline with μ = 0.2. Find its acceleration.",
               "answer": "3.21 m/s²"}
    plan = {"labels": ["30°", "m = 2 kg"]}
    leaked = verify(_render("30°", "m = 2 kg", "a ≈ 3.21 m/s²"), plan, problem=problem)
    assert leaked.failed == ["answer_not_leaked"]
    clean = verify(_render("30°", "m = 2 kg", ("3.21", "tick")), plan, problem=problem)
    assert clean.passed  # axis tick numbers are not an answer


def test_answer_that_appears_in_the_question_is_not_searched():
    assert distinctive_answer("30°", "The incline is at 30°. Find the angle of the normal force.") == \
        {"numbers": [], "texts": []}
    assert distinctive_answer("B", "Which option?") == {"numbers": [], "texts": []}
    assert distinctive_answer("5 N", "Find the force.") == {"numbers": [], "texts": []}  # one digit: too common
    assert distinctive_answer("290.588 cm", "plates 26 cm in diameter") == {"numbers": [290.588], "texts": []}
    assert distinctive_answer("tetrahedral", "What is the shape of CH₄?") == {"numbers": [], "texts": ["tetrahedral"]}


def test_blank_image_fails_and_bad_render_stops_verification():
    assert image_is_blank(_png(blank=True)) and not image_is_blank(_png())
    assert verify(_render("A", blank=True), {"labels": ["A"]}).failed == ["not_blank"]
    failed = verify(_render(status="error"), {"labels": ["A"]})
    assert failed.failed == ["rendered"] and len(failed.checks) == 1


TIKZ = r"""\documentclass[tikz]{standalone}
\begin{document}
\begin{tikzpicture}
  \node[draw] (r) at (0,0) {$R_1 = 4\,\Omega$}; % a comment {not a label}
  \draw (0,0) -- (2,0) node[midway, above] {$30^\circ$};
  \draw (1,1) circle (0.5) node[label={[red]above:$m$}] {};
  \pic [draw, "$\theta$"] {angle = a--b--c};
  \coordinate[right=of r] (c);
  \node at (1,1) [label=below:A] {B};
  \foreach \x/\t in {0/P, 1/Q} \node at (\x,2) {\t};
\end{tikzpicture}
\end{document}"""


def test_tikz_node_texts_finds_node_label_and_quote_texts():
    texts = tikz_node_texts(TIKZ)
    for expected in ["$R_1 = 4\\,\\Omega$", "$30^\\circ$", "$m$", "$\\theta$", "A", "B"]:
        assert expected in texts
    assert not any("not a label" in t for t in texts)


def test_verify_tikz_labels_come_from_the_source():
    render = RenderResult(status="ok", language="tikz", png=_png())
    plan = {"labels": ["R₁ = 4 Ω", "30°", "θ", "P", "Q"], "must_not_show": ["I = 2 A"]}
    assert verify(render, plan, code=TIKZ, language="tikz").passed
    missing = verify(render, {"labels": ["45°"]}, code=TIKZ, language="tikz")
    assert missing.failed == ["labels_present"]
