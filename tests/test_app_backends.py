"""The Space's Generate and Score logic over a configured model: a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import json

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
    quizzes = problem["quizzes"]
    wrong = next(letter for letter in "ABCD" if letter != quizzes[0]["correct_option"])

    def answer(request):  # a quiz's questions are asked in parallel: answer by content, not by arrival order
        text = json.dumps(request["messages"])
        index = next(i for i, q in enumerate(quizzes) if json.dumps(q["question"].strip())[1:-1] in text)
        return f"Answer: {wrong if index == 0 else quizzes[index]['correct_option']}"

    with OpenAICompatServer(handler=answer, require_api_key=key) as server:
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


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_keys_echoed_by_the_backbone_never_reach_the_page_the_api_or_the_log(tmp_path):
    """The served Space (real subprocess, real HTTP API) with fake keys and a server that echoes them in errors."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    gradio_client = pytest.importorskip("gradio_client")
    hf_token = "hf_SENTINELappEcho7f3a91c2"
    echo = Fault.bad_request(f"Incorrect API key provided: {SENTINEL}; Bearer {hf_token}", status=401)
    with OpenAICompatServer(handler=lambda request: echo) as server:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIGENBENCH_", "GRADIO_"))}
        env.update(OPENAI_API_KEY=SENTINEL, HF_TOKEN=hf_token, PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False",
                   GRADIO_TEMP_DIR=str(tmp_path / "gradio"), SCIGENBENCH_BACKBONE=f"openai:m@{server.base_url}",
                   SCIGENBENCH_JUDGE=f"openai:j@{server.base_url}")
        log = tmp_path / "app.log"
        with log.open("w") as out:
            process = subprocess.Popen([sys.executable, "-m", "scigenbench.scripts", "app", "--port", str(port)],
                                       cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text()[-3000:]
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        page = response.read().decode()
                    break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()[-3000:]
                    time.sleep(0.3)
            with urllib.request.urlopen(url + "config", timeout=5) as response:
                page += response.read().decode()
            client = gradio_client.Client(url, verbose=False)
            answers = [client.predict("mini", PROBLEM_ID, "", api_name="/generate"),
                       client.predict("mini", PROBLEM_ID, gradio_client.handle_file(_write_png(tmp_path)),
                                      api_name="/score")]
        finally:
            process.terminate()
            process.wait(timeout=10)
        assert server.calls >= 2  # both the backbone and the judge were really called and failed
    shown = page + json.dumps(answers, default=str) + log.read_text()
    assert "401" in json.dumps(answers, default=str)
    assert SENTINEL not in shown and hf_token not in shown


def _write_png(folder):
    path = folder / "white.png"
    path.write_bytes(_png())
    return str(path)
