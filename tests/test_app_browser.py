"""The Space end to end in a real browser: `scigenbench app` on loopback, driven by Playwright in headless Chromium.

Explore is filtered (domain → image type), ImgCoder generates a mini problem (replay backbone, sandboxed render)
and the image appears, the image is scored with the OCR proxy, and the Leaderboard shows the published rows.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SENTINEL = "sk-SENTINEL-browser-93b1f0a7e2"

# generous deadlines: they only stop a hang, and a loaded 2-core machine imports gradio slowly
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path, deadline_s: float = 240) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`scigenbench app` exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"`scigenbench app` did not serve {url} within {deadline_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def results_dir(tmp_path) -> Path:
    """A result folder holding one evaluated run: two mini problems by ImgCoder (replay), quizzed by the OCR proxy."""
    from scigenbench.dataset import load_mini_problems
    from scigenbench.generators.imgcoder import ImgCoderConfig, build_replay_recordings, make_imgcoder
    from scigenbench.generators.runner import run_generation
    from scigenbench.metrics.evaluation import evaluate_run

    wanted = {"mini-physics-converging-lens", "mini-math-venn-languages"}
    problems = [p for p in load_mini_problems() if p["id"] in wanted]
    recording = build_replay_recordings(problems, tmp_path / "replay.jsonl", ImgCoderConfig())
    run_dir = tmp_path / "results" / "imgcoder-replay"
    with make_imgcoder(backbone=f"replay:{recording['path']}") as coder:
        run_generation(coder, problems, run_dir, concurrency=1, progress=False, dataset="mini")
    evaluate_run(run_dir, ["quiz"], "ocr", problems=problems, progress=False, n_boot=50)
    return tmp_path / "results"


@pytest.fixture
def app_url(tmp_path, results_dir):
    """`python -m scigenbench.scripts app --port <free port>` as a real subprocess; yields its URL."""
    port = _free_port()
    log = tmp_path / "app.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIGENBENCH_BACKBONE", "SCIGENBENCH_JUDGE",
                                                                     "SCIGENBENCH_RESULTS", "GRADIO_"))}
    # a key in the environment that must never reach the page or the log
    env.update(GRADIO_ANALYTICS_ENABLED="False", OPENAI_API_KEY=SENTINEL, PYTHONUNBUFFERED="1",
               SCIGENBENCH_RESULTS=str(results_dir))
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "scigenbench.scripts", "app", "--port", str(port),
                                    "--host", "127.0.0.1"], cwd=tmp_path, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert SENTINEL not in log.read_text()


def _pick(page, elem_id: str, option: str) -> None:
    """Choose ``option`` in the Gradio dropdown ``#elem_id``."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_explore_generate_score_leaderboard_in_chromium(app_url, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); the browser test needs Debian's Chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the python package playwright is not installed")
    expect = sync_api.expect

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(app_url)
            expect(page.locator("#intro")).to_contain_text("ImgCoder")
            count = page.locator("#explore-count")
            expect(count).to_contain_text("26 of 26 mini problems match")

            # Explore: domain, then image type
            _pick(page, "explore-domain", "Physics")
            expect(count).not_to_contain_text("26 of 26")
            _pick(page, "explore-type", "Physics - Optical Ray")
            expect(count).to_contain_text("1 of 26")
            problem_md = page.locator("#explore-problem-md")
            expect(problem_md).to_contain_text("mini-physics-converging-lens")
            expect(problem_md).not_to_contain_text("← correct")
            page.locator("#explore-show-answers input").check()
            expect(problem_md).to_contain_text("← correct")
            page.screenshot(path=str(tmp_path / "explore.png"), full_page=True)

            # Generate: the problem chosen in Explore, replay backbone, sandboxed render
            page.get_by_role("tab", name="Generate").click()
            expect(page.locator("#generate-problem input")).to_have_value(re.compile("^mini-physics-converging-lens"))
            page.locator("#generate-button").click()
            expect(page.locator("#generate-image img")).to_be_visible(timeout=180_000)
            status = page.locator("#generate-status")
            expect(status).to_contain_text("Status: ok · mini-physics-converging-lens")
            expect(status).to_contain_text("labels_present")
            expect(status).to_contain_text("Cost:")
            page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)

            # Score: the generated image was handed over; the OCR proxy answers the quizzes
            page.get_by_role("tab", name="Score").click()
            expect(page.locator("#score-image img")).to_be_visible()
            page.locator("#score-button").click()
            summary = page.locator("#score-summary")
            expect(summary).to_contain_text("Quiz score", timeout=180_000)
            expect(summary).to_contain_text("OCR PROXY")
            expect(page.locator("#score-table")).to_contain_text("answered")
            page.screenshot(path=str(tmp_path / "score.png"), full_page=True)

            # Leaderboard: the paper's rows, labelled published
            page.get_by_role("tab", name="Leaderboard").click()
            table = page.locator("#leaderboard-table")
            expect(table).to_contain_text("published", timeout=120_000)
            expect(table).to_contain_text("Gemini-3-Pro-ImgCoder")
            expect(table).to_contain_text("imgcoder-replay")  # the evaluated run from SCIGENBENCH_RESULTS
            expect(table).to_contain_text("[PROXY]")
            expect(page.locator("#leaderboard-plot img")).to_be_visible()
            page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)

            assert SENTINEL not in page.content()
        finally:
            browser.close()
