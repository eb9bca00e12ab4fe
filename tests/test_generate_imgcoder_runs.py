"""ImgCoder through the runner and the command lines: concurrency over one shared sandbox pool, budget stops
that count what was spent, dry-run estimates that follow the options, and defective upstream-schema input."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from scigenbench.dataset import load_mini_problems
from scigenbench.dataset.runs import RunFolder
from scigenbench.generators.backends.testing import OpenAICompatServer, Reply
from scigenbench.generators.imgcoder import load_reference, make_imgcoder
from scigenbench.generators.runner import run_generation
from scigenbench.generators.sandbox import RendererPool

IDS = ["mini-physics-atwood-machine", "mini-math-venn-languages", "mini-math-cone-volume",
       "mini-biology-energy-pyramid"]
#: USD per 1M tokens: each call below costs 1000 * 1e-6 + 100 * 1e-5 = $0.002, an item (3 calls) $0.006
PRICES = {"test-model": {"input": 1.0, "output": 10.0}}


@pytest.fixture(scope="module")
def pool():
    with RendererPool(workers=2) as renderer_pool:
        yield renderer_pool


@pytest.fixture(scope="module")
def problems():
    return [p for p in load_mini_problems() if p["id"] in IDS]


def reference_model(problems):
    """A loopback model that answers every stage of every problem with the mini reference (any order, any
    thread), recognising the problem by its question in the prompt."""
    questions = {p["id"]: p["question"].strip()[:80] for p in problems}

    def handle(request: dict):
        prompt = request["messages"][-1]["content"]
        pid = next(i for i, q in questions.items() if q in prompt)
        ref = load_reference(pid)
        if prompt.startswith("Read the problem"):
            text = json.dumps(ref["understanding"])
        elif prompt.startswith("Plan the figure"):
            text = "```json\n" + json.dumps(ref["plan"]) + "\n```"
        else:
            text = f"```python\n{ref['code']}\n```"
        return Reply(text, prompt_tokens=1000, completion_tokens=100)

    return handle


def test_concurrent_imgcoder_items_share_one_pool_and_each_is_recorded_once(tmp_path, pool, problems):
    with OpenAICompatServer(handler=reference_model(problems)) as server:
        with make_imgcoder(backbone=f"openai:test-model@{server.base_url}", pool=pool, cache=False,
                           max_retries=0, render_timeout=20) as coder:
            summary = run_generation(coder, problems, tmp_path / "run", concurrency=4, progress=False)
        assert len(server.chat_requests()) == 3 * len(IDS)
    attempts = RunFolder.open(tmp_path / "run").attempts()
    assert sorted(r["id"] for r in attempts) == sorted(IDS)
    assert all(r["status"] == "ok" for r in attempts), [r["error"] for r in attempts]
    assert summary.n_ok == len(IDS) and summary.calls == 3 * len(IDS)


def test_a_backend_budget_stop_counts_the_calls_the_stopped_item_already_paid_for(tmp_path, pool, problems):
    with OpenAICompatServer(handler=reference_model(problems)) as server:
        with make_imgcoder(backbone=f"openai:test-model@{server.base_url}", pool=pool, cache=False,
                           max_retries=0, prices=PRICES, budget_usd=0.015, max_tokens=200) as coder:
            summary = run_generation(coder, problems, tmp_path / "run", concurrency=1, progress=False)
            spent = coder.backend.stats()["cost_usd"]
    assert summary.stopped == "budget" and "BudgetExceededError" in summary.stop_reason
    assert summary.n_ok == 2 and len(RunFolder.open(tmp_path / "run").attempts()) == 2  # the third: not recorded
    assert summary.cost_usd == pytest.approx(spent) and spent == pytest.approx(0.014)  # 2 items + the first call of the 3rd


def _generate_args(tmp_path, *extra: str) -> argparse.Namespace:
    from scigenbench.scripts import cmd_generate

    parser = argparse.ArgumentParser()
    cmd_generate.add_arguments(parser)
    return parser.parse_args(["--dataset", "mini", "--out", str(tmp_path / "run"), "--no-progress", *extra])


def test_dry_run_estimate_follows_the_options_even_when_the_generator_cannot_be_built(tmp_path, capsys):
    from scigenbench.scripts import cmd_generate

    args = _generate_args(tmp_path, "--generator", "imgcoder", "--backbone", "openai:unpriced@http://127.0.0.1:9/v1",
                          "--limit", "2", "--budget", "1", "-o", "stages=single", "-o", "max_repair_rounds=1",
                          "--dry-run")
    assert cmd_generate.run(args) == 0
    out = capsys.readouterr().out
    assert "could not be built" in out  # a budget needs a price
    assert "model calls first try 2" in out and "model calls max with repair 4" in out
    assert not (tmp_path / "run").exists()


def test_problems_with_duplicate_ids_exit_2_with_the_reason(tmp_path, capsys):
    from scigenbench.generators import get_generator
    from scigenbench.scripts import cmd_generate

    problem = load_mini_problems()[0]
    args = _generate_args(tmp_path, "--generator", "text-card")
    assert cmd_generate.generate(get_generator("text-card"), [problem, dict(problem)], args) == 2
    assert "duplicate problem ids" in capsys.readouterr().err


def test_run_imgcoder_skips_rows_it_cannot_generate_and_says_which(tmp_path, upstream_dir):
    rows = json.loads((upstream_dir / "scigen.json").read_text(encoding="utf-8"))[10:12]
    defective = ["not a row", {"question": "A row without an id."}, {"id": "no-question", "question": "  "},
                 {"id": "dict-question", "question": {"text": "?"}}]
    (tmp_path / "in.json").write_text(json.dumps(rows + defective), encoding="utf-8")
    command = [sys.executable, "-m", "scigenbench.scripts.run_imgcoder", "--input_file", str(tmp_path / "in.json"),
               "--backbone", "fake", "--output_dir", str(tmp_path / "run"), "--no-progress", "-o",
               "max_repair_rounds=0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    for row_id in ("<row 2>", "<row 3>", "no-question", "dict-question"):
        assert f"skipped {row_id}" in result.stderr
    assert "4 row(s) skipped" in result.stdout
    attempts = RunFolder.open(tmp_path / "run").attempts()
    assert sorted(r["id"] for r in attempts) == sorted(str(r["id"]) for r in rows)

    (tmp_path / "dup.json").write_text(json.dumps([rows[0], rows[0]]), encoding="utf-8")
    command[command.index(str(tmp_path / "in.json"))] = str(tmp_path / "dup.json")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "used by several rows" in result.stderr
