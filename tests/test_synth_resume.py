"""Synthesis is resumable and safe: a real process killed mid-run, the budget stop, the dry run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from scigenbench.dataset import load_mini_problems
from scigenbench.generators.backends.testing import OpenAICompatServer
from scigenbench.scripts.cli import main
from scigenbench.training.inputs import InputSpec
from scigenbench.training.pipeline import SynthConfig, synthesize
from scigenbench.training.testing import MiniModel

PROBLEMS = [p for p in load_mini_problems() if p["id"] in (
    "mini-physics-atwood-machine", "mini-math-cone-volume", "mini-biology-energy-pyramid")]


def write_input(path: Path) -> Path:
    path.write_text("".join(json.dumps({"question": p["question"], "answer": p["answer"]}) + "\n"
                            for p in PROBLEMS), encoding="utf-8")
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def cli_args(source: Path, out: Path, base_url: str, cache: Path) -> list[str]:
    spec = f"openai:test-model@{base_url}"
    return ["synthesize", "--input", str(source), "--model", spec, "--judge", spec, "--generator", "text-card",
            "--out", str(out), "--concurrency", "1", "--items-in-flight", "1", "--max-retries", "0", "--no-progress"]


def test_a_run_killed_mid_item_resumes_with_nothing_lost_or_done_twice(tmp_path):
    source, out, cache = write_input(tmp_path / "qa.jsonl"), tmp_path / "syn", tmp_path / "cache"
    model = MiniModel()
    block_at = 20  # a request in the middle of the second item (the first one needs about 16)
    reached, release = threading.Event(), threading.Event()
    served = []

    def handler(request: dict) -> str:
        served.append(1)
        if len(served) == block_at:
            reached.set()
            release.wait(60)
        return model.handler(request)

    with OpenAICompatServer(handler=handler) as server:
        env = {**os.environ, "SCIGENBENCH_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "scigenbench.scripts", *cli_args(source, out, server.base_url,
                                                                                       cache)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            assert reached.wait(120), proc.communicate(timeout=5)[0].decode()[-2000:]
            before = {stage: (out / "stages" / f"{stage}.jsonl").read_bytes()
                      for stage in ("triage", "elements", "quizzes", "rewrite", "validate", "verify")
                      if (out / "stages" / f"{stage}.jsonl").exists()}
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL
        assert lines(out / "stages" / "verify.jsonl") and not (out / "verified").exists()

        os.environ["SCIGENBENCH_CACHE_DIR"] = str(cache)
        try:
            assert main(cli_args(source, out, server.base_url, cache)) == 0
        finally:
            os.environ.pop("SCIGENBENCH_CACHE_DIR", None)

    for stage, data in before.items():  # nothing written before the kill was lost or rewritten
        assert (out / "stages" / f"{stage}.jsonl").read_bytes().startswith(data)
    for stage in ("triage", "elements", "quizzes", "rewrite", "validate", "verify"):
        finals = [row["id"] for row in lines(out / "stages" / f"{stage}.jsonl") if row["final"]]
        assert sorted(finals) == sorted(set(finals)) and len(finals) == 3, stage
    assert [a["attempt"] for a in lines(out / "run" / "attempts.jsonl")] == [1, 1, 1]
    import datasets

    verified = datasets.load_dataset(str(out / "verified"), split="train")
    assert verified.num_rows == 3 and len(set(verified["id"])) == 3


def test_the_budget_stops_starting_items_and_exits_3(tmp_path):
    source = write_input(tmp_path / "qa.jsonl")
    with OpenAICompatServer(handler=MiniModel().handler) as server:
        spec = f"openai:test-model@{server.base_url}"
        prices = {"test-model": {"input": 1000.0, "output": 1000.0}}  # USD per million tokens: ~$1 an item
        config = SynthConfig(input=InputSpec(str(source)), out=str(tmp_path / "syn"), model=spec, judge=spec,
                             generator="text-card", concurrency=1, items_in_flight=1, budget_usd=0.01,
                             progress=False,
                             backend_options={"cache_dir": str(tmp_path / "cache"), "prices": prices})
        summary = synthesize(config)
    assert summary.stopped == "budget" and summary.exit_code() == 3
    assert summary.n_processed == 1 and summary.n_not_started == 2
    assert "STOPPED (budget)" in summary.format()
    statuses = [row["status"] for row in lines(tmp_path / "syn" / "items.jsonl")]
    assert statuses.count("pending") == 2


def test_dry_run_counts_calls_and_writes_nothing(tmp_path, capsys):
    source = write_input(tmp_path / "qa.jsonl")
    out = tmp_path / "syn"
    code = main(["synthesize", "--input", str(source), "--model", "openai:m@http://127.0.0.1:9/v1", "--judge",
                 "openai:j@http://127.0.0.1:9/v1", "--out", str(out), "--dry-run"])
    printed = capsys.readouterr().out
    assert code == 0 and not out.exists()
    assert "3 items" in printed and "triage 3, elements 3, quizzes 3, rewrite 3" in printed
    assert "model calls first try 9" in printed


def test_bad_arguments_are_one_line_errors_with_exit_2(tmp_path, capsys):
    source = write_input(tmp_path / "qa.jsonl")
    assert main(["synthesize", "--input", str(source), "--model", "fake", "--judge", "ocr", "--out",
                 str(tmp_path / "o")]) == 2
    assert "--no-require-rinv" in capsys.readouterr().err
    assert main(["synthesize", "--input", str(source), "--question-column", "problem", "--model", "fake",
                 "--judge", "fake", "--out", str(tmp_path / "o")]) == 2
    assert "'problem' is not a column" in capsys.readouterr().err


def test_a_finished_run_rerun_calls_nothing_and_changes_no_record(tmp_path):
    source = write_input(tmp_path / "qa.jsonl")
    with OpenAICompatServer(handler=MiniModel().handler) as server:
        spec = f"openai:test-model@{server.base_url}"
        config = SynthConfig(input=InputSpec(str(source)), out=str(tmp_path / "syn"), model=spec, judge=spec,
                             generator="text-card", progress=False,
                             backend_options={"cache": False})  # no cache: a repeated stage would call again
        first = synthesize(config)
        calls, logs = len(server.chat_requests()), (tmp_path / "syn" / "stages" / "verify.jsonl").read_bytes()
        second = synthesize(config)
    assert first.funnel == second.funnel and second.n_processed == 0
    assert len(server.chat_requests()) == calls and (tmp_path / "syn" / "stages" / "verify.jsonl").read_bytes() == logs


def test_a_torn_last_line_is_dropped_and_its_stage_redone(tmp_path):
    from scigenbench.training.store import StageStore

    store = StageStore(tmp_path, ["triage"])
    store.append("triage", "a", {"status": "ok"}, final=True)
    with open(store.path("triage"), "ab") as f:
        f.write(b'{"id": "b", "stage": "triage", "status": "o')  # a writer killed mid-line
    assert set(store.latest("triage")) == {"a"}
    store.recover()
    store.append("triage", "b", {"status": "ok"}, final=True)
    assert [row["id"] for row in store.rows("triage")] == ["a", "b"]
