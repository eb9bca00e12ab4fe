"""ImgCoder against a real OpenAI-compatible server on loopback: repair after a bug, leak detection, failures.

The server answers each stage by looking at the prompt it receives (as a model would), the ``openai`` SDK talks
to it over HTTP, and programs render in the real sandbox.
"""

from __future__ import annotations

import json

from scigenbench.generators.backends.testing import Fault, OpenAICompatServer
from scigenbench.generators.imgcoder import ImgCoder, ImgCoderConfig

PROBLEM = {
    "id": "test-incline", "source": "mini", "domain": "Physics", "image_type": "Physics - Mechanical",
    "question": "A block of mass 2 kg slides down a frictionless incline that makes 30° with the floor. "
                "What is its acceleration?",
    "answer": "4.9 m/s²", "elements": ["an incline at 30°", "a block labelled m = 2 kg"],
}
UNDERSTANDING = {"entities": ["incline", "block"], "given_values": ["30°", "m = 2 kg"], "hidden": ["acceleration"]}
PLAN = {"language": "python", "elements": ["incline", "block"], "layout": "incline rising to the right",
        "labels": ["30°", "m = 2 kg"], "must_not_show": []}

FIGURE = """import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(4, 3))
ax.plot([0, 4, 4, 0], [0, 0, 2.3, 0], color="black")
ax.add_patch(plt.Rectangle((1.6, 0.95), 0.6, 0.4, angle=30, color="tab:blue"))
ax.text(0.7, 0.12, "30°")
ax.text(1.2, 1.7, "m = 2 kg")
"""
BUGGY = FIGURE + "ax.set_aspect(equal_axes)\n"  # NameError on line 8
FIXED = FIGURE + "ax.set_aspect('equal')\nax.axis('off')\n"
LEAKING = FIXED + "ax.text(2.5, 0.5, 'a = 4.9 m/s²')\n"


def fenced(code: str) -> str:
    return f"Here is the program:\n```python\n{code}```\n"


def stage_handler(code_answers: list[str]):
    """Answer like a model: JSON for understand/plan, then the scripted programs for code and repair calls."""
    programs = iter(code_answers)

    def handle(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if prompt.startswith("Read the problem below"):
            return json.dumps(UNDERSTANDING)
        if prompt.startswith("Plan the figure"):
            return "Plan:\n```json\n" + json.dumps(PLAN) + "\n```"
        return fenced(next(programs))

    return handle


def run(server: OpenAICompatServer, **config) -> tuple:
    coder = ImgCoder(f"openai:test-model@{server.base_url}", ImgCoderConfig(**config), cache=False,
                     max_retries=0)
    try:
        return coder.generate(PROBLEM)
    finally:
        coder.close()


def test_a_bug_in_round_one_is_repaired_in_round_two():
    with OpenAICompatServer(handler=stage_handler([BUGGY, FIXED])) as server:
        out = run(server)
        requests = [r.json for r in server.requests if r.path.endswith("/chat/completions")]
    assert out.status == "ok", out.error
    assert out.image_png.startswith(b"\x89PNG")
    extra = out.extra
    assert extra["rounds_used"] == 2
    assert extra["render_ok_first_try"] is False and extra["render_ok_after_repair"] is True
    first, second = extra["rounds"]
    assert first["render"]["status"] == "error" and "NameError" in first["render"]["error"]
    assert first["render"]["error_line"] == 8
    assert first["code"].rstrip().endswith("ax.set_aspect(equal_axes)")
    assert second["render"]["status"] == "ok" and second["checks"]["passed"]
    assert out.code == second["code"]
    # the repair request carried the failing program and its error back to the model
    repair = requests[-1]["messages"]
    assert repair[-2]["role"] == "assistant" and "equal_axes" in repair[-2]["content"]
    assert "NameError" in repair[-1]["content"] and ">   8 | ax.set_aspect(equal_axes)" in repair[-1]["content"]
    assert [s["stage"] for s in extra["stages"]] == ["understand", "plan", "code", "repair"]
    assert all(s["prompt_version"] and s["raw"] for s in extra["stages"])
    assert out.plan["labels"] == ["30°", "m = 2 kg"]
    assert out.usage["calls"] == 4 and out.usage["prompt_tokens"] > 0
    assert {"understand", "plan", "code", "repair", "render", "verify", "total"} <= set(out.timings)


def test_a_figure_that_draws_the_final_answer_is_caught():
    with OpenAICompatServer(handler=stage_handler([LEAKING, LEAKING])) as server:
        out = run(server, max_repair_rounds=1)
    assert out.status == "verify_failed"
    assert out.extra["checks_failed"] == ["answer_not_leaked"]
    assert out.extra["rounds_used"] == 2 and out.extra["render_ok_first_try"] is True
    assert "a = 4.9 m/s²" in out.error
    assert out.image_png is not None  # kept for inspection, but not ok


def test_single_call_mode_parses_plan_and_program_from_one_answer():
    answer = ("```json\n" + json.dumps({"understanding": UNDERSTANDING, "plan": PLAN}) + "\n```\n\n"
              + fenced(FIXED))
    with OpenAICompatServer([answer]) as server:
        out = run(server, stages="single")
        assert len(server.requests) == 1
    assert out.status == "ok", out.error
    assert out.extra["rounds_used"] == 1 and out.extra["verified_first_try"]
    assert out.plan["labels"] == PLAN["labels"] and out.extra["understanding"] == UNDERSTANDING


def test_a_backbone_error_becomes_a_failed_item_not_an_exception():
    with OpenAICompatServer([json.dumps(UNDERSTANDING), Fault.bad_request("model not found")]) as server:
        out = run(server)
    assert out.status == "failed"
    assert "plan stage" in out.error
    assert out.extra["stages"][-1]["error"]["kind"] == "permanent"
    assert out.extra["rounds_used"] == 0
