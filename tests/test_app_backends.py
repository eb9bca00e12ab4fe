"""The Space's Generate and Score logic over a configured model: a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import pytest

from scigenbench.app import core
from scigenbench.dataset import load_mini_problems
from scigenbench.generators.backends.testing import Fault, OpenAICompatServer
from scigenbench.generators.imgcoder import load_reference
from scigenbench.generators.imgcoder.prompting import CODE_FENCES, dump_json, fenced

SENTINEL = "sk-SENTINEL-app-backend-4e7c2a9d10"
PROBLEM_ID = "mini-physics-converging-lens"


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    return SENTINEL


def _scripted_imgcoder_answers() -> list[str]:
    """What a good model would answer to ImgCoder's three stages (taken from a mini reference)."""
    ref = load_reference(PROBLEM_ID)
    return [dump_json(ref["understanding"]), dump_json(ref["plan"]),
            fenced(ref["code"], CODE_FENCES[ref["language"]])]


def test_typed_text_runs_imgcoder_over_the_configured_backbone(key):
    problem = next(p for p in load_mini_problems() if p["id"] == PROBLEM_ID)
    with OpenAICompatServer(_scripted_imgcoder_answers(), require_api_key=key) as server:
        base_url = server.base_url
        settings = core.Settings(backbone=f"openai:test-model@{base_url}")
        view = core.run_imgcoder(core.typed_problem(problem["question"]), settings)
    assert view.ok, view.status_md
    assert view.png.startswith(b"\x89PNG") and view.code.strip() and view.plan["plan"]["labels"]
    assert "Model calls:** 3" in view.status_md and "labels_present | pass" in view.status_md
    assert len(server.chat_requests()) == 3
    assert key not in view.status_md and base_url not in view.status_md


def test_a_configured_judge_scores_and_is_not_labelled_a_proxy(key):
    problem = next(p for p in load_mini_problems() if p["id"] == PROBLEM_ID)
    answers = [f"Answer: {q['correct_option']}" for q in problem["quizzes"]]
    answers[0] = "Answer: " + next(letter for letter in "ABCD" if letter != problem["quizzes"][0]["correct_option"])
    with OpenAICompatServer(answers, require_api_key=key) as server:
        settings = core.Settings(judge=f"openai:test-model@{server.base_url}")
        view = core.score_image(_png(), problem, settings)
    n = len(problem["quizzes"])
    assert view.ok and f"Quiz score: {n - 1} / {n}" in view.summary_md
    assert "PROXY" not in view.summary_md and not settings.judge_is_proxy
    assert [row[3] for row in view.rows] == ["no"] + ["yes"] * (n - 1)


def test_a_failing_judge_is_unscored_and_never_shows_the_key(key):
    problem = load_mini_problems()[0]
    leak = Fault.bad_request(f"Incorrect API key provided: {key}", status=401)
    with OpenAICompatServer(handler=lambda request: leak) as server:
        view = core.score_image(_png(), problem, core.Settings(judge=f"openai:test-model@{server.base_url}"))
    assert not view.ok and "Not scored (unscored)" in view.summary_md
    assert key not in view.summary_md and all(key not in str(row) for row in view.rows)


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buffer, format="PNG")
    return buffer.getvalue()
