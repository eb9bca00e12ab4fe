"""Repeated sampling and judge panels end to end against a loopback judge whose answers depend on the judge's
model name and the sample (seed): per-item spread, panel majority and ties, agreement statistics checked against
hand-computed values, K=1 keeping its cache, and rank stability across three runs whose order flips."""

import base64
import io
import json
import re

import pyarrow.parquet as pq
import pytest

from scigenbench.generators.backends.testing import OpenAICompatServer
from scigenbench.metrics.evaluation import evaluate_run
from scigenbench.metrics.testing import judge_json, make_run, png, prompt_kind, toy_problem
from scigenbench.scripts.cli import main

OPTIONS = {"max_retries": 0, "timeout": 10}

# Letters per (judge, item, quiz) — "B" is correct. As a nominal table (a = B, b = C, C abstains on p1 quiz 1):
#   u1 (p1,0): a a a | u2 (p1,1): a b – | u3 (p2,0): b b b | u4 (p2,1): a b b | u5 (p3,0): a a a
LETTERS = {"judge-a": {("p1", 0): "B", ("p1", 1): "B", ("p2", 0): "C", ("p2", 1): "B", ("p3", 0): "B"},
           "judge-b": {("p1", 0): "B", ("p1", 1): "C", ("p2", 0): "C", ("p2", 1): "C", ("p3", 0): "B"},
           "judge-c": {("p1", 0): "B", ("p1", 1): None, ("p2", 0): "C", ("p2", 1): "C", ("p3", 0): "B"}}


def _text(request):
    parts = []
    for m in request["messages"]:
        content = m["content"]
        parts += [content] if isinstance(content, str) else [p.get("text", "") for p in content]
    return "\n".join(parts)


def _image_color(request):
    from PIL import Image

    for m in request["messages"]:
        for part in m["content"] if isinstance(m["content"], list) else []:
            if part.get("type") == "image_url":
                data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                return Image.open(io.BytesIO(data)).convert("RGB").getpixel((1, 1))
    return None


def panel_judge(request):
    """Answers by model name (judge-a/b/c) and sample (seed): quizzes from LETTERS, judge ratings = 2 - sample."""
    judge, sample, text = request["model"], request.get("seed") or 0, _text(request)
    kind = prompt_kind(text)
    if kind == "quiz":
        item, index = re.search(r"(p\d) quiz (\d)\?", text).groups()
        letter = LETTERS[judge][(item, int(index))]
        return f"Answer: {letter}" if letter else "I cannot tell from the figure."
    if kind == "judge":
        value = max(0, 2 - sample)
        return judge_json(value, value, value, value, value)
    if kind == "rinv":
        return "Final answer: 4.9 m/s^2"
    return "Verdict: CORRECT"


@pytest.fixture
def problems():
    return [toy_problem("p1", n_quizzes=2), toy_problem("p2", n_quizzes=2), toy_problem("p3", n_quizzes=1)]


def _judges(server, *names):
    return [f"openai:{n}@{server.base_url}" for n in names]


def test_samples_give_per_item_mean_and_spread(tmp_path, problems):
    run_dir = make_run(tmp_path / "run", {"p1": png("white"), "p2": png("gray"), "p3": None})
    with OpenAICompatServer(handler=panel_judge) as server:
        report = evaluate_run(run_dir, ["judge"], _judges(server, "judge-a")[0], problems=problems, samples=3,
                              temperature=0.7, backend_options={**OPTIONS, "cache_dir": str(tmp_path / "c")},
                              progress=False, n_boot=200)
        seeds = {r.json.get("seed") for r in server.requests if r.json}
        temperatures = {r.json.get("temperature") for r in server.requests if r.json}
    assert seeds == {None, 1, 2} and temperatures == {0.7}  # sample 0 sends no seed: K=1 keys are unchanged
    p1 = next(r for r in report.records["judge"] if r.id == "p1")
    # ratings 2, 1, 0 over the three samples: mean 1, sample sd 1
    assert p1.score == pytest.approx(1.0)
    assert p1.details["spread"] == {"n": 3, "mean": 1.0, "sd": 1.0, "min": 0.0, "max": 2.0}
    assert [s["score"] for s in p1.details["samples"]] == [2.0, 1.0, 0.0]
    summary = json.loads((run_dir / "scores" / "summary.json").read_text())["metrics"]["judge"]
    assert summary["samples"] == 3 and summary["overall"]["lenient"] == pytest.approx(1.0)
    lo, hi = summary["overall"]["lenient_ci95"]
    assert lo < 1.0 < hi  # every item has the same mean: the width is the judge's own sampling variance


def test_one_sample_keeps_its_cache_and_results(tmp_path, problems):
    run_dir = make_run(tmp_path / "run", {"p1": png("white"), "p2": png("gray"), "p3": png("yellow")})
    options = {**OPTIONS, "cache_dir": str(tmp_path / "c")}
    with OpenAICompatServer(handler=panel_judge) as server:
        spec = _judges(server, "judge-a")[0]
        evaluate_run(run_dir, ["judge"], spec, problems=problems, backend_options=options, progress=False, n_boot=0)
        first = len(server.requests)
        again = evaluate_run(run_dir, ["judge"], spec, problems=problems, samples=2, backend_options=options,
                             progress=False, n_boot=0)
        assert len(server.requests) - first == 3  # only sample 1 of each item is new
    assert again.reused["judge"] >= 3


def test_panel_majority_ties_and_agreement_by_hand(tmp_path, problems):
    run_dir = make_run(tmp_path / "run", {"p1": png("white"), "p2": png("gray"), "p3": png("yellow")})
    with OpenAICompatServer(handler=panel_judge) as server:
        report = evaluate_run(run_dir, ["quiz"], _judges(server, "judge-a", "judge-b", "judge-c"), problems=problems,
                              backend_options={**OPTIONS, "cache_dir": str(tmp_path / "c")}, progress=False,
                              n_boot=50)
    printed = report.to_text()
    summary = json.loads((run_dir / "scores" / "summary.json").read_text())
    records = {r["id"]: r for r in pq.read_table(run_dir / "scores" / "quiz.parquet").to_pylist()}
    # panel: p1 quiz 0 B (right), p1 quiz 1 B vs C with C abstaining -> tie, unscored; p2: C, C -> wrong; p3: B
    p1 = json.loads(records["p1"]["details"])
    assert [q["state"] for q in p1["quizzes"]] == ["scored", "unscored"] and p1["n_tied"] == 1
    assert (records["p1"]["score"], records["p2"]["score"], records["p3"]["score"]) == (1.0, 0.0, 1.0)
    quiz = summary["agreement"]["quiz"]
    # nominal alpha over 5 units: o_aa = 6, o_ab = o_ba = 2, o_bb = 4 (n_a = 8, n_b = 6, n = 14):
    # 1 - 13 * 4 / (2 * 8 * 6) = 44/96
    assert quiz["krippendorff_alpha"] == pytest.approx(44 / 96)
    # A vs B: agree on 3 of 5; marginals A (a .8, b .2), B (a .4, b .6): p_e = .44 -> (.6 - .44) / .56
    assert quiz["cohen_kappa"]["openai:judge-a vs openai:judge-b"] == pytest.approx(0.16 / 0.56)
    # per-item accuracy A (1, .5, 1) vs B (.5, 0, 1): ranks (2.5, 1, 2.5) vs (2, 1, 3) -> 1.5 / sqrt(1.5 * 2)
    assert quiz["spearman"]["openai:judge-a vs openai:judge-b"] == pytest.approx(1.5 / 3 ** 0.5)
    assert set(summary["judges"]) == {"openai:judge-a", "openai:judge-b", "openai:judge-c"}
    assert summary["judges"]["openai:judge-a"]["quiz"]["quiz_acc_micro"]["strict"] == pytest.approx(4 / 5)
    assert (run_dir / "scores" / "judges").is_dir()
    assert "krippendorff alpha 0.46" in printed.lower()


def rank_judge(request):
    """judge-x ranks white > gray > yellow runs (quiz right 2/2, 1/2, 0/2); judge-y the reverse."""
    order = {(255, 255, 255): 0, (128, 128, 128): 1, (255, 255, 0): 2}[_image_color(request)]
    if request["model"] == "judge-y":
        order = 2 - order
    index = int(re.search(r"quiz (\d)\?", _text(request)).group(1))
    return "Answer: B" if index + order < 2 else "Answer: C"


def test_rank_stability_flags_runs_whose_order_flips_between_judges(tmp_path, capsys):
    problems = [toy_problem("p1", n_quizzes=2)]
    runs = [make_run(tmp_path / name, {"p1": png(color)}) for name, color in
            (("white", "white"), ("gray", (128, 128, 128)), ("yellow", "yellow"))]
    with OpenAICompatServer(handler=rank_judge) as server:
        for run_dir in runs:
            evaluate_run(run_dir, ["quiz"], _judges(server, "judge-x", "judge-y"), problems=problems,
                         backend_options={**OPTIONS, "cache_dir": str(tmp_path / "c")}, progress=False, n_boot=0)
    out = tmp_path / "lb"
    assert main(["leaderboard", *map(str, runs), "--out", str(out), "--no-published"]) == 0
    stability = json.loads((out / "rank_stability.json").read_text())["quiz"]
    assert stability["orders"] == {"openai:judge-x": ["white", "gray", "yellow"],
                                   "openai:judge-y": ["yellow", "gray", "white"]}
    assert not stability["stable"] and stability["kendall_tau"]["openai:judge-x vs openai:judge-y"] == -1.0
    assert len(stability["flips"]) == 3
    assert "Rank stability" in capsys.readouterr().out


def test_cli_panel_with_samples_reports_agreement(tmp_path, capsys):
    from scigenbench.metrics.testing import scripted_judge

    ids = ["mini-physics-incline-friction", "mini-math-cone-volume"]
    run_dir = make_run(tmp_path / "run", {i: png("white") for i in ids})
    with OpenAICompatServer(handler=scripted_judge()) as server:
        argv = ["evaluate", "--run", str(run_dir), "--metrics", "judge,quiz", "--no-progress", "--bootstrap", "20",
                "--samples", "2", "--temperature", "0.5"]
        for spec in _judges(server, "judge-a", "judge-b"):
            argv += ["--judge", spec]
        assert main(argv) == 0
    printed = capsys.readouterr().out
    summary = json.loads((run_dir / "scores" / "summary.json").read_text())
    assert set(summary["agreement"]) == {"judge", "quiz"}
    assert summary["agreement"]["quiz"]["unit"] == "item id + quiz index"
    assert summary["agreement"]["judge"]["level"] == "ordinal"
    assert summary["metrics"]["quiz"]["samples"] == 2 and summary["metrics"]["quiz"]["panel"]["judges"] == [
        "openai:judge-a", "openai:judge-b"]
    assert "quiz: agreement (2 judges, nominal" in printed and "2 samples per item (temperature 0.5)" in printed
