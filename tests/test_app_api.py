"""The Space as the Hub runs it (`python app.py` in spaces_app/), called over its real HTTP API by gradio_client.

Two visitors generate different problems at the same time and each gets their own figure; a generated figure is
scored; typed text with the offline backbone gets the "configure a backbone" message.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import needs_ocr

APP_DIR = Path(__file__).resolve().parents[1] / "spaces_app"
PROBLEMS = ("mini-physics-converging-lens", "mini-math-venn-languages")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def space_url(tmp_path_factory):
    """`python app.py` run from the Space folder, port from GRADIO_SERVER_PORT as on the Hub."""
    tmp = tmp_path_factory.mktemp("space")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIGENBENCH_BACKBONE", "SCIGENBENCH_JUDGE",
                                                                     "SCIGENBENCH_RESULTS", "GRADIO_"))}
    env.update(GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_ANALYTICS_ENABLED="False",
               GRADIO_TEMP_DIR=str(tmp / "gradio"))
    log = tmp / "space.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=APP_DIR, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 240  # a hang guard: generous on a loaded machine
        while True:
            if process.poll() is not None:
                pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"app.py did not serve {url}:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def client(space_url):
    gradio_client = pytest.importorskip("gradio_client")
    return gradio_client.Client(space_url, verbose=False)


def test_concurrent_visitors_each_get_their_own_figure(client):
    def generate(problem_id):
        return client.predict("mini", problem_id, "", api_name="/generate")

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(generate, PROBLEMS))
    digests = set()
    for problem_id, (image, status, plan, code, *_handover) in zip(PROBLEMS, results):
        assert f"Status: ok** · `{problem_id}`" in status
        assert plan["plan"]["language"] in ("python", "tikz") and code["value"].strip()
        data = Path(image).read_bytes()
        assert data.startswith(b"\x89PNG")
        digests.add(hashlib.sha256(data).hexdigest())
    assert len(digests) == 2


@needs_ocr
def test_a_generated_figure_can_be_scored(client):
    from gradio_client import handle_file

    image, *_ = client.predict("mini", PROBLEMS[1], "", api_name="/generate")
    summary, table = client.predict("mini", PROBLEMS[1], handle_file(image), api_name="/score")
    assert "Quiz score:" in summary and "OCR PROXY" in summary
    from scigenbench.dataset import load_mini_problems

    quizzes = next(p["quizzes"] for p in load_mini_problems() if p["id"] == PROBLEMS[1])
    assert len(table["data"]) == len(quizzes)


def test_typed_text_without_a_backbone_asks_for_one(client):
    image, status, *_ = client.predict("mini", PROBLEMS[0], "Draw a pendulum 2 m long.", api_name="/generate")
    assert image is None and "Configure a backbone" in status


def test_an_upload_that_is_not_an_image_gets_a_readable_message(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    fake = tmp_path / "figure.png"
    fake.write_text("this is text, not a PNG")
    with pytest.raises(AppError, match="not an image"):
        client.predict("mini", PROBLEMS[0], handle_file(str(fake)), api_name="/score")


def test_typed_text_of_100k_characters_is_refused(client):
    image, status, *_ = client.predict("mini", PROBLEMS[0], "x" * 100_000, api_name="/generate")
    assert image is None and "at most" in status


def test_a_decompression_bomb_upload_is_refused_with_a_readable_message(client, tmp_path):
    from gradio_client import handle_file
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("1", (8000, 5000)).save(bomb)  # 40 M pixels in a few kB: over the Space's limit
    summary, table = client.predict("mini", PROBLEMS[0], handle_file(str(bomb)), api_name="/score")
    assert "cannot be scored" in summary and "pixels" in summary and not table["data"]
