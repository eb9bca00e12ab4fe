"""`scigenbench generate` as a real subprocess: kill mid-run and resume, dry run, argument errors.

The slow generator is ``openai-image`` against a loopback server whose images route takes a while per request,
so the run can be SIGKILLed with some items done and others in flight.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from scigenbench.dataset import load_mini_problems
from scigenbench.dataset.runs import RunFolder
from scigenbench.generators.backends.testing import OpenAICompatServer

ROUTE = "/v1/images/generations"
#: mini problems whose reference is a matplotlib program (quick to render)
PYTHON_IDS = ["mini-physics-atwood-machine", "mini-math-venn-languages", "mini-math-cone-volume",
              "mini-biology-energy-pyramid", "mini-chemistry-bcc-iron", "mini-physics-satellite-orbit"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Each test's subprocesses get their own response cache (answers cached by one test must not serve another)."""
    monkeypatch.setenv("SCIGENBENCH_CACHE_DIR", str(tmp_path / "cache"))


def _png_for(prompt: str) -> str:
    """A tiny PNG whose colour depends on the prompt (different items → different images)."""
    digest = hashlib.sha256(prompt.encode()).digest()
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), tuple(digest[:3])).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _slow_images_server(delay: float) -> OpenAICompatServer:
    server = OpenAICompatServer().start()

    def draw(body):
        time.sleep(delay)
        return {"created": 0, "data": [{"b64_json": _png_for(body["prompt"])}]}

    server.add_route("POST", ROUTE, draw)
    return server


def _generate_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "scigenbench.scripts", "generate", "--no-progress", *args]


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(_generate_cmd(*args), capture_output=True, text=True, timeout=timeout)


def _wait_for_rows(path: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = path.read_bytes().count(b"\n") if path.exists() else 0
        if rows >= n:
            return rows
        assert proc.poll() is None, f"generate ended early: {proc.communicate()}"
        time.sleep(0.02)
    raise AssertionError(f"fewer than {n} rows in {path} after {timeout}s")


@pytest.mark.slow
def test_kill_mid_run_then_resume_loses_nothing_and_generates_nothing_twice(tmp_path):
    ids = sorted(str(p["id"]) for p in load_mini_problems())
    run_dir = tmp_path / "run"
    server = _slow_images_server(delay=0.15)
    try:
        spec = f"openai-image:test-image-model@{server.base_url}"
        args = ("--dataset", "mini", "--generator", spec, "--out", str(run_dir), "--concurrency", "2")
        proc = subprocess.Popen(_generate_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_for_rows(run_dir / "attempts.jsonl", 4, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        before = RunFolder.open(run_dir).attempts()
        assert 4 <= len(before) < len(ids), "the kill must land mid-run"

        resumed = _run(*args)
        assert resumed.returncode == 0, resumed.stderr
        assert f"skipped {len(before)} done" in resumed.stdout
    finally:
        server.stop()

    run = RunFolder.open(run_dir)
    attempts = run.attempts()
    assert sorted(r["id"] for r in attempts) == ids  # every id exactly once: none lost, none twice
    assert all(r["status"] == "ok" and r["attempt"] == 1 for r in attempts)
    assert run.done_ids() == set(ids)
    metadata = [json.loads(line) for line in (run_dir / "metadata.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in metadata) == ids
    for row in metadata:
        assert Image.open(run_dir / row["file_name"]).size == (8, 8)
    # requests: one per item, plus at most the two in flight when the process was killed
    requests = [r for r in server.requests if r.path == ROUTE]
    assert len(ids) <= len(requests) <= len(ids) + 2


def _children(pid: int) -> set[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_kill_imgcoder_mid_run_then_resume(tmp_path):
    from scigenbench.generators.imgcoder import build_replay_recordings

    problems = [p for p in load_mini_problems() if p["id"] in PYTHON_IDS]
    recording = build_replay_recordings(problems, tmp_path / "replay.jsonl")
    run_dir = tmp_path / "run"
    args = ("--dataset", "mini", "--generator", "imgcoder", "--backbone", f"replay:{recording['path']}",
            "--ids", ",".join(PYTHON_IDS), "--out", str(run_dir), "--concurrency", "1")
    proc = subprocess.Popen(_generate_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_rows(run_dir / "attempts.jsonl", 2, proc)
    sandbox_processes = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    n_before = len(RunFolder.open(run_dir).attempts())
    assert n_before < len(PYTHON_IDS), "the kill must land mid-run"
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in sandbox_processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in sandbox_processes), "sandbox workers outlived the killed run"

    resumed = _run(*args)
    assert resumed.returncode == 0, resumed.stderr
    attempts = RunFolder.open(run_dir).attempts()
    assert sorted(r["id"] for r in attempts) == sorted(PYTHON_IDS)  # none lost, none twice
    assert all(r["status"] == "ok" for r in attempts)
    assert f"skipped {n_before} done" in resumed.stdout and "render rate: 100.0% at first try" in resumed.stdout


@pytest.mark.slow
def test_ctrl_c_records_the_items_in_flight_and_exits_130(tmp_path):
    run_dir = tmp_path / "run"
    server = _slow_images_server(delay=0.3)
    try:
        args = ("--dataset", "mini", "--generator", f"openai-image:test-image-model@{server.base_url}",
                "--out", str(run_dir), "--concurrency", "2")
        proc = subprocess.Popen(_generate_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_rows(run_dir / "attempts.jsonl", 2, proc)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=30)
    finally:
        server.stop()
    assert proc.returncode == 130 and "STOPPED (interrupted)" in stdout
    requests = [r for r in server.requests if r.path == ROUTE]
    # every request the server answered became a record: the in-flight items were waited for, not dropped
    assert len(RunFolder.open(run_dir).attempts()) == len(requests) < len(load_mini_problems())


def test_generates_from_the_upstream_release(tmp_path, upstream_dir):
    result = _run("--dataset", "seephys", "--data-dir", str(upstream_dir), "--generator", "text-card",
                  "--limit", "2", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    run = RunFolder.open(tmp_path / "run")
    assert len(run.done_ids()) == 2 and run.info["dataset"] == "seephys"
    assert all(i.isdigit() for i in run.done_ids())  # SeePhys int ids arrive as strings


def test_dry_run_calls_nothing_and_writes_nothing(tmp_path):
    server = _slow_images_server(delay=0)
    try:
        result = _run("--dataset", "mini", "--generator", f"openai-image:test-image-model@{server.base_url}",
                      "--out", str(tmp_path / "run"), "--limit", "3", "-o", "price_per_image=0.04", "--dry-run")
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert "would generate 3 item(s)" in result.stdout
    assert "image requests 3" in result.stdout and "cost usd 0.12" in result.stdout
    assert server.requests == [] and not (tmp_path / "run").exists()


def test_resume_and_filters_from_the_command_line(tmp_path):
    out = str(tmp_path / "run")
    first = _run("--dataset", "mini", "--generator", "text-card", "--out", out,
                 "--image-types", "Physics - Circuit,Math - Plane Geometric")
    assert first.returncode == 0, first.stderr
    done = RunFolder.open(out).done_ids()
    assert done and all(i.startswith(("mini-physics", "mini-math")) for i in done)

    again = _run("--dataset", "mini", "--generator", "text-card", "--out", out, "--ids", ",".join(sorted(done)))
    assert again.returncode == 0 and f"skipped {len(done)} done" in again.stdout
    assert len(RunFolder.open(out).attempts()) == len(done)


@pytest.mark.parametrize("args, message", [
    (("--ids", "mini-physics-nope"), "unknown id"),
    (("--image-types", "Physics - Circuits"), "did you mean 'Physics - Circuit'"),
    (("--backbone", "fake"), "only used by --generator imgcoder"),
    (("--generator", "imgcoder"), "needs --backbone"),
    (("--generator", "text-crad"), "Did you mean 'text-card'"),
])
def test_bad_arguments_exit_2_with_the_reason(tmp_path, args, message):
    base = {"--generator": "text-card"}
    argv = ["--dataset", "mini", "--out", str(tmp_path / "run")]
    if "--generator" not in args:
        argv += ["--generator", base["--generator"]]
    result = _run(*argv, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
