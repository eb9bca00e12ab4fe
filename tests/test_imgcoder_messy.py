"""ImgCoder with the messy answers real models give, over a loopback OpenAI-compatible server.

Each case must end in a correct, recorded state: reasoning models' ``<think>`` drafts are ignored, JSON with
comments or several objects is read right, a refusal is "no program" (not a SyntaxError), a truncated answer is
recorded as truncated and said so in the repair prompt, and answers in LaTeX do not make up leak numbers.
"""

from __future__ import annotations

import json

import pytest

from scigenbench.generators.backends.testing import Fault, OpenAICompatServer, Reply
from scigenbench.generators.imgcoder import ImgCoder, ImgCoderConfig
from scigenbench.generators.imgcoder.parsing import extract_json, parse_plan, parse_single, strip_reasoning
from scigenbench.generators.imgcoder.verify import distinctive_answer, numbers_in
from scigenbench.generators.sandbox import RendererPool

PROBLEM = {
    "id": "messy-incline", "source": "mini", "domain": "Physics", "image_type": "Physics - Mechanical",
    "question": "A block of mass 2 kg rests on an incline of 30°. What is the normal force?",
    "answer": "16.97 N", "elements": [],
}
UNDERSTANDING = json.dumps({"entities": ["incline", "block"], "given_values": ["30°", "m = 2 kg"],
                            "hidden": ["normal force"]})
PLAN = {"language": "python", "elements": ["incline", "block"], "layout": "incline rising to the right",
        "labels": ["30°", "m = 2 kg"], "must_not_show": []}
FIGURE = ('import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(3, 2))\n'
          'ax.plot([0, 4, 4, 0], [0, 0, 2.3, 0], color="black")\n'
          'ax.text(0.7, 0.12, "30°")\nax.text(1.2, 1.7, "m = 2 kg")\nax.axis("off")\n')


@pytest.fixture(scope="module")
def pool():
    with RendererPool(workers=1) as renderer_pool:
        yield renderer_pool


def by_stage(plan_answer, code_answers):
    """A handler answering like a model: the understanding, then ``plan_answer``, then the code answers."""
    codes = iter(code_answers)

    def handle(request: dict):
        prompt = request["messages"][-1]["content"]
        if prompt.startswith("Read the problem below"):
            return UNDERSTANDING
        if prompt.startswith("Plan the figure"):
            return plan_answer
        return next(codes)

    return handle


def generate(pool, handler=None, responses=None, **config):
    config.setdefault("render_timeout", 10)
    with OpenAICompatServer(responses, handler=handler) as server:
        coder = ImgCoder(f"openai:test-model@{server.base_url}", ImgCoderConfig(**config), pool=pool, cache=False,
                         max_retries=0)
        try:
            out = coder.generate(PROBLEM)
        finally:
            coder.close()
        requests = [r.json for r in server.requests if r.path.endswith("/chat/completions")]
    return out, requests


# --- parsing (pure) ------------------------------------------------------------------------------------------

def test_reasoning_is_removed_closed_unopened_or_unclosed():
    assert strip_reasoning("<think>draft {\"a\": 1}</think>\n{\"b\": 2}") == '{"b": 2}'
    assert strip_reasoning("thinking without an opening tag</think>answer") == "answer"
    assert strip_reasoning("<think>cut off while thinking ```python\nx = 1") == ""


def test_the_plan_with_the_plan_keys_wins_over_an_earlier_example_object():
    text = ('For instance ```json\n{"language": "python", "labels": ["x"]}\n``` but the real plan is:\n'
            '```json\n{"language": "tikz", "elements": ["a"], "labels": ["30°"], "must_not_show": []}\n```\n'
            '```json\n{"note": "done"}\n```')
    plan, error = parse_plan(text)
    assert error is None
    assert plan["language"] == "tikz" and plan["labels"] == ["30°"]


@pytest.mark.parametrize("text", [
    '{\n  // the plan\n  "language": "matplotlib", # python\n  "labels": ["30°"], /* all */ "elements": ["a"],\n}',
    "Here's the plan: {'language': 'matplotlib', 'labels': ['30°'], 'elements': ['a'], 'ok': true} - done",
    "<think>maybe {'language': 'tikz', 'labels': ['Q']}</think>{'language': 'Python', 'labels': ['30°'], "
    "'elements': ['a'], 'must_not_show': None}",
], ids=["comments", "single-quotes-json-literals-in-prose", "think-then-python-literal"])
def test_messy_plans_are_recovered(text):
    plan, error = parse_plan(text)
    assert error is None, error
    assert plan["language"] == "python" and plan["labels"] == ["30°"]


def test_comment_markers_inside_strings_are_kept():
    obj, _ = extract_json('{"url": "http://a#b", "n": 1 // note\n}')
    assert obj == {"url": "http://a#b", "n": 1}


def test_single_answer_with_reasoning_and_several_json_fences():
    text = ("<think>```python\nprint('draft')\n```</think>Plan:\n```json\n{'understanding': {'entities': ['x']}, "
            "'plan': {'language': 'python', 'labels': ['30°'],},}\n```\n```python\nimport matplotlib\n```")
    understanding, plan, code_text, error = parse_single(text)
    assert error is None and plan["labels"] == ["30°"] and understanding["entities"] == ["x"]
    assert "draft" not in code_text and "json" not in code_text and "import matplotlib" in code_text


# --- answer numbers (pure) -----------------------------------------------------------------------------------

def test_nested_latex_fractions_do_not_invent_numbers():
    assert numbers_in("$\\frac{\\sqrt{3}}{2}$") == [3.0, 2.0]
    assert numbers_in("\\frac12") == [1.0, 2.0]
    assert distinctive_answer("$\\frac{\\sqrt{3}}{2}$", "question") == {"numbers": [], "texts": []}


@pytest.mark.parametrize("text", ["$1.5\\times10^{-3}$ A", "1.5×10⁻³ A", "1.5 x 10^-3 A", "1.5e-3 A"])
def test_scientific_notation_is_one_number(text):
    assert numbers_in(text) == [0.0015]


# --- end to end over HTTP ------------------------------------------------------------------------------------

def test_draft_code_inside_think_is_not_rendered(pool):
    draft = ("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n# a long draft " + "." * 300
             + "\nax.text(0, 0, 'N = 16.97 N')\n")
    answer = f"<think>Draft:\n```python\n{draft}```\nNo, shorter.</think>\n```python\n{FIGURE}```"
    out, _ = generate(pool, by_stage(json.dumps(PLAN), [answer]), max_repair_rounds=0)
    assert out.status == "ok", out.error
    assert "16.97" not in out.code
    assert out.extra["stages"][-1]["raw"].startswith("<think>")  # the raw answer is still recorded


def test_a_refusal_is_no_program_and_is_repaired(pool):
    handler = by_stage(json.dumps(PLAN), ["I'm sorry, but I can't help with that.", f"```python\n{FIGURE}```"])
    out, requests = generate(pool, handler, max_repair_rounds=1)
    first, second = out.extra["rounds"]
    assert first["render"]["status"] == "no_code" and "I'm sorry" in first["render"]["error"]
    assert "I'm sorry" in requests[-1]["messages"][-1]["content"]
    assert out.status == "ok" and second["passed"]


def test_truncated_answers_are_recorded_named_in_the_repair_and_never_ok(pool):
    broken = Reply(f"```python\n{FIGURE[:60]}", finish_reason="length")  # SyntaxError
    renders = Reply(f"```python\n{FIGURE[:70]}", finish_reason="length")  # draws empty axes
    handler = by_stage(Reply('```json\n{"language": "python", "labels": ["30', finish_reason="length"),
                       [broken, renders])
    out, requests = generate(pool, handler, max_repair_rounds=1, max_tokens=64)
    plan_stage, code_stage = out.extra["stages"][1], out.extra["stages"][2]
    assert plan_stage["truncated"] and "cut off at max_tokens=64" in plan_stage["parse_error"]
    assert code_stage["finish_reason"] == "length" and out.extra["rounds"][0]["answer_truncated"]
    assert "cut off at the output limit (64 tokens)" in requests[-1]["messages"][-1]["content"]
    final = out.extra["rounds"][1]
    assert final["render"]["status"] == "ok"
    assert set(final["checks"]["failed"]) == {"answer_complete", "plan_parsed"}
    assert out.status == "verify_failed" and out.extra["verified"] is False and "cut off" in out.error


def test_an_unparsed_plan_is_not_a_verified_success_and_costs_no_repair(pool):
    handler = by_stage("Sure, I will draw an incline with the block on it.", [f"```python\n{FIGURE}```"])
    out, requests = generate(pool, handler, max_repair_rounds=2)
    assert len(requests) == 3 and out.extra["rounds_used"] == 1
    assert out.extra["checks_failed"] == ["plan_parsed"]
    assert out.status == "verify_failed" and out.image_png and "plan not parsed" in out.error
    out, _ = generate(pool, by_stage("no plan", [f"```python\n{FIGURE}```"]), require_verified=False)
    assert out.status == "ok" and out.extra["verified"] is False


def test_tikz_font_error_gets_a_hint_and_the_latex_cause_in_the_error(pool):
    import shutil
    import subprocess

    if not (shutil.which("pdflatex") and shutil.which("pdftoppm") and shutil.which("kpsewhich")):
        pytest.skip("needs pdflatex, pdftoppm and kpsewhich (TeX Live, poppler)")
    if subprocess.run(["kpsewhich", "sfrm1000.pfb"], capture_output=True, text=True).stdout.strip():
        pytest.skip("cm-super (Type 1 EC fonts) is installed, so T1 text compiles")
    plan = {**PLAN, "language": "tikz"}
    # T1 encoding without lmodern needs bitmap fonts, which the sandbox never generates
    doc = "\\documentclass[tikz]{standalone}\n\\usepackage[T1]{fontenc}\n\\begin{document}\n\\begin{tikzpicture}\n" \
          "\\draw (0,0) -- (4,0) -- (4,2.3) -- cycle;\n\\node at (1,0.2) {30};\n\\node at (2,1.7) {m = 2 kg};\n" \
          "\\end{tikzpicture}\n\\end{document}"
    handler = by_stage(json.dumps(plan), [f"```latex\n{doc}\n```", Fault.bad_request("model gone")])
    out, requests = generate(pool, handler, max_repair_rounds=1)
    assert "$^\\circ$" in requests[-1]["messages"][-1]["content"]
    assert out.status == "render_failed"
    assert "Font" in out.error and "repair stage" in out.error
    assert len(out.extra["rounds"]) == 1 and out.extra["stages"][-1]["error"]["kind"] == "permanent"


def test_characters_the_font_cannot_draw_fail_a_check_and_are_repaired(pool):
    plan = {**PLAN, "labels": ["30°", "m = 2 kg", "incline"]}
    boxes = f"```python\n{FIGURE}ax.text(2, 1, '斜面 incline')\n```"  # no CJK font: drawn as empty boxes
    fixed = f"```python\n{FIGURE}ax.text(2, 1, 'incline')\n```"
    out, requests = generate(pool, by_stage(json.dumps(plan), [boxes, fixed]), max_repair_rounds=1)
    first = out.extra["rounds"][0]
    assert first["checks"]["failed"] == ["glyphs_drawn"]
    assert "'斜'" in requests[-1]["messages"][-1]["content"]
    assert out.status == "ok" and out.extra["rounds_used"] == 2
