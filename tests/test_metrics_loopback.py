"""Every metric end to end over a real run folder against the loopback OpenAI-compatible server:
garbage and failing answers become unscored with a reason, coverage is right, resume never counts twice,
quiz grader calls happen only for ambiguous answers, and a warm re-run makes zero calls."""

import json
import shutil

import pytest

from scigenbench.generators.backends.testing import Fault, OpenAICompatServer
from scigenbench.metrics.evaluation import evaluate_run
from scigenbench.metrics.testing import make_run, png, scripted_judge, toy_problem

OPTIONS = {"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.02, "timeout": 5}


@pytest.fixture
def setup(tmp_path):
    problems = [toy_problem("p1", n_quizzes=3), toy_problem("p2", n_quizzes=2, domain="Math",
                                                            image_type="Math - Plane Geometric"),
                toy_problem("p3", n_quizzes=2, multimodal=False), toy_problem("p4", n_quizzes=2)]
    run_dir = make_run(tmp_path / "run", {"p1": png("white"), "p2": png("gray"), "p3": png("yellow"), "p4": None})
    return problems, run_dir, {**OPTIONS, "cache_dir": str(tmp_path / "cache")}


def evaluate(server, run_dir, problems, options, metrics, **kw):
    spec = f"openai:judge-model@{server.base_url}"
    return evaluate_run(run_dir, metrics, spec, grader=kw.pop("grader", spec), problems=problems,
                        backend_options=options, progress=False, n_boot=50, **kw)


def test_judge_garbage_and_failures_are_unscored_and_resume_counts_once(setup):
    problems, run_dir, options = setup
    broken = {"p2": "I rate it highly!", "p3": Fault.server_error()}

    def overrides(kind, text):
        for item, answer in broken.items():
            if kind == "judge" and f"Problem {item}:" in text:
                return answer
        return None

    with OpenAICompatServer(handler=scripted_judge(overrides)) as server:
        first = evaluate(server, run_dir, problems, options, ["judge"])
        cov = first.summaries["judge"]["coverage"]
        assert (cov["n_items"], cov["n_scored"], cov["n_unscored"], cov["n_missing"]) == (4, 1, 2, 1)
        by_id = {r.id: r for r in first.records["judge"]}
        assert "unparsable" in by_id["p2"].reason and by_id["p2"].raw == "I rate it highly!"
        assert "judge call failed" in by_id["p3"].reason
        assert by_id["p4"].reason.startswith("generation failed")
        assert by_id["p1"].details["dimensions"]["Layout_Precision"] == 1 and by_id["p1"].image_sha256
        assert first.summaries["judge"]["overall"]["lenient"] == pytest.approx(1.6)
        assert first.summaries["judge"]["overall"]["strict"] == pytest.approx(0.8)  # p4 missing counts 0

        broken.clear()
        calls_before = server.calls
        second = evaluate(server, run_dir, problems, options, ["judge"])
        # p2 and p3 are evaluated again; p2's garbage is a cached answer (temperature 0 reproduces it anyway),
        # p3's failure was not cached, so only p3 reaches the server; p1 and p4 are reused
        assert server.calls - calls_before == 1
        assert second.evaluated["judge"] == 2 and second.reused["judge"] == 2
        cov = second.summaries["judge"]["coverage"]
        assert (cov["n_scored"], cov["n_unscored"], cov["n_missing"]) == (2, 1, 1)

        calls_before = server.calls
        third = evaluate(server, run_dir, problems, options, ["judge"])
        assert server.calls == calls_before and third.calls["judge"] == 0
    lines = (run_dir / "scores" / "judge.jsonl").read_text().splitlines()
    assert len(lines) == 6 + 1  # 4 first + 2 re-evaluated + p2 once more; aggregation uses one per id
    assert len(second.records["judge"]) == 4


def test_quiz_calls_q_plus_grader_only_for_ambiguous(setup, capsys):
    problems, run_dir, options = setup

    def overrides(kind, text):
        if kind == "quiz" and "p1 quiz 1?" in text:
            return "Maybe B, maybe C."
        if kind == "quiz" and "p2 quiz 0?" in text:
            return "The figure does not show this."
        if kind == "letter_grader" and "Maybe B, maybe C" in text:
            return "Answer: C"
        if kind == "letter_grader":
            return "Answer: NONE"
        return None

    with OpenAICompatServer(handler=scripted_judge(overrides)) as server:
        report = evaluate(server, run_dir, problems, options, ["quiz"])
        s = report.summaries["quiz"]
        n_quizzes = 3 + 2 + 2  # p1, p2, p3 have images; p4 is missing
        assert s["answer_calls"] == n_quizzes
        assert s["grader_calls"] == 2  # one ambiguous reply, one naming no option
        assert server.calls == n_quizzes + 2
        print(report.to_text())
        assert "grader calls 2" in capsys.readouterr().out
        p1 = {r.id: r for r in report.records["quiz"]}["p1"]
        assert [q["read_by"] for q in p1.details["quizzes"]] == ["rule", "grader", "rule"]
        assert [q["predicted"] for q in p1.details["quizzes"]] == ["B", "C", "B"]
        assert p1.score == pytest.approx(2 / 3)
        # micro: (2 + 1 + 2) correct of 7 scored quizzes; strict adds p4's 2 quizzes as 0
        assert s["quiz_acc_micro"]["lenient"] == pytest.approx(5 / 7)
        assert s["quiz_acc_micro"]["strict"] == pytest.approx(5 / 9)
        assert s["perfect_image_rate"]["lenient"] == pytest.approx(1 / 3)
        assert s["guessing_baseline"]["best_letter"] == "B"

        shutil.rmtree(run_dir / "scores")  # results gone, response cache warm: zero calls
        calls_before = server.calls
        warm = evaluate(server, run_dir, problems, options, ["quiz"])
        assert server.calls == calls_before and sum(warm.calls.values()) == 0
        assert warm.summaries["quiz"]["quiz_acc_micro"] == s["quiz_acc_micro"]


def test_quiz_grader_failure_leaves_only_that_quiz_out_then_resume_completes(setup):
    problems, run_dir, options = setup
    failing = {"on": True}

    def overrides(kind, text):
        if kind == "quiz" and "p2 quiz 1?" in text:
            return "B or D"
        if kind == "letter_grader":
            return Fault.bad_request("grader down") if failing["on"] else "Answer: D"
        return None

    with OpenAICompatServer(handler=scripted_judge(overrides)) as server:
        first = evaluate(server, run_dir, problems, options, ["quiz"])
        p2 = {r.id: r for r in first.records["quiz"]}["p2"]
        # only the quiz whose grading failed is left out of micro accuracy; the perfect-image state is unknown
        assert p2.state == "scored" and p2.details["n_graded"] == 1 and p2.details["n_unscored_quizzes"] == 1
        assert "letter grader call failed" in p2.details["unscored_quizzes"] and p2.details["perfect"] is None
        assert p2.details["quizzes"][0]["correct"] is True
        s = first.summaries["quiz"]
        assert s["n_quizzes_unscored"] == 1 and s["n_perfect_unscored"] == 1
        failing["on"] = False
        calls_before = server.calls
        second = evaluate(server, run_dir, problems, options, ["quiz"])
        # p2's first quiz and its ambiguous answer come from the cache: only the grader is called again
        assert server.calls - calls_before == 1
        p2 = {r.id: r for r in second.records["quiz"]}["p2"]
        assert p2.state == "scored" and p2.score == 0.5
        assert second.summaries["quiz"]["coverage"]["n_scored"] == 3


def test_rinv_equivalence_grader_and_not_applicable(setup):
    problems, run_dir, options = setup

    def overrides(kind, text):
        if kind == "rinv" and "Problem p2:" in text:
            return "Final answer: about five"
        if kind == "rinv_grader":
            return "The candidate says five.\nVerdict: INCORRECT"
        return None

    with OpenAICompatServer(handler=scripted_judge(overrides)) as server:
        report = evaluate(server, run_dir, problems, options, ["rinv"])
        by_id = {r.id: r for r in report.records["rinv"]}
        assert by_id["p1"].details["method"] == "equivalence" and by_id["p1"].score == 1.0
        assert by_id["p2"].details["verdict"] == "INCORRECT" and by_id["p2"].score == 0.0
        assert by_id["p3"].state == "not_applicable"  # no multimodal_question
        assert by_id["p4"].state == "missing"
        assert server.calls == 3  # p1 answer, p2 answer + grader
        acc = report.summaries["rinv"]["rinv_acc"]
        assert acc["lenient"] == 0.5 and acc["strict"] == pytest.approx(1 / 3)


def test_rinv_unparsable_verdict_is_unscored_not_incorrect(setup):
    problems, run_dir, options = setup

    def overrides(kind, text):
        if kind == "rinv":
            return "Final answer: 17 m/s^2"
        if kind == "rinv_grader":
            return "The answer is CORRECT"  # no final Verdict line
        return None

    with OpenAICompatServer(handler=scripted_judge(overrides)) as server:
        report = evaluate(server, run_dir, problems, options, ["rinv"])
    cov = report.summaries["rinv"]["coverage"]
    assert (cov["n_scored"], cov["n_unscored"], cov["n_missing"], cov["n_not_applicable"]) == (0, 2, 1, 1)
    assert report.summaries["rinv"]["rinv_acc"]["lenient"] is None


def test_outputs_parquet_and_summary(setup):
    import pyarrow.parquet as pq

    problems, run_dir, options = setup
    with OpenAICompatServer(handler=scripted_judge()) as server:
        report = evaluate(server, run_dir, problems, options, ["judge", "quiz", "rinv"], blind=True)
    table = pq.read_table(run_dir / "scores" / "quiz.parquet")
    assert table.num_rows == 4 and set(table.column("state").to_pylist()) == {"scored", "missing"}
    summary = json.loads((run_dir / "scores" / "summary.json").read_text())
    assert set(summary["metrics"]) >= {"judge", "quiz", "quiz_blind", "rinv", "pooled_upstream"}
    assert summary["metrics"]["quiz_blind"]["coverage"]["n_scored"] == 4  # blind needs no image
    assert summary["metrics"]["quiz_blind"]["quiz_acc_micro"]["lenient"] == 0.0  # always "C"
    assert summary["metrics"]["pooled_upstream"]["protocol"] == "default"  # upstream's formula over default records: not labelled compat


def test_dry_run_counts_calls_and_makes_none(setup):
    problems, run_dir, options = setup
    with OpenAICompatServer(handler=scripted_judge()) as server:
        report = evaluate(server, run_dir, problems, options, ["judge", "quiz", "rinv"], dry_run=True)
        assert server.calls == 0
    assert report.planned_calls["judge"]["calls"] == 3
    assert report.planned_calls["quiz"]["calls"] == 7
    assert report.planned_calls["rinv"]["calls"] == 2
    assert "would make 12 model calls" in report.to_text()


def test_compat_quiz_grader_llm_is_labelled_and_kept_apart(setup):
    problems, run_dir, options = setup
    with OpenAICompatServer(handler=scripted_judge()) as server:
        default = evaluate(server, run_dir, problems, options, ["quiz"])
        assert default.summaries["quiz"]["grader_calls"] == 0
        compat = evaluate(server, run_dir, problems, options, ["quiz"], quiz_grader="llm")
    s = compat.summaries["quiz"]
    assert s["protocol"] == "upstream-compat" and s["switches"] == ["quiz_grader=llm"]
    assert s["grader_calls"] == 7  # every answered quiz went to the grader, as upstream does
    assert compat.evaluated["quiz"] == 4  # not reused from the default-mode rows


KILLED_WORKER = r"""
import sys
from scigenbench.metrics.evaluation import evaluate_run
from scigenbench.metrics.testing import toy_problem
problems = [toy_problem(f"k{i}") for i in range(6)]
evaluate_run(sys.argv[1], ["judge"], f"openai:slow@{sys.argv[2]}", problems=problems, concurrency=1,
             progress=False, n_boot=0, backend_options={"cache_dir": sys.argv[3], "max_retries": 0})
"""


@pytest.mark.slow
def test_killed_evaluation_resumes_without_double_counting(tmp_path):
    import subprocess
    import sys
    import time

    problems = [toy_problem(f"k{i}") for i in range(6)]
    run_dir = make_run(tmp_path / "run", {p["id"]: png("white", (40 + i, 40)) for i, p in enumerate(problems)})
    log = run_dir / "scores" / "judge.jsonl"
    with OpenAICompatServer(handler=scripted_judge(), latency=0.4) as server:
        proc = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, str(run_dir), server.base_url,
                                 str(tmp_path / "cache")])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 2):
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        finished = [json.loads(line)["id"] for line in log.read_text().splitlines()]
        assert 2 <= len(finished) < 6
        time.sleep(0.5)  # let a request that was in flight at the kill reach the server's log
        calls_before = server.calls
        report = evaluate_run(run_dir, ["judge"], f"openai:slow@{server.base_url}", problems=problems,
                              progress=False, n_boot=0, backend_options={"cache_dir": str(tmp_path / "cache")})
        resumed = [text for r in server.chat_requests()[calls_before:] for text in r.texts()]
    assert report.reused["judge"] == len(finished)
    assert len(resumed) == 6 - len(finished)
    for item_id in finished:  # items finished before the kill are never asked again
        assert not any(f"Problem {item_id}:" in text for text in resumed)
    assert report.summaries["judge"]["coverage"]["n_scored"] == 6
    assert sorted(r.id for r in report.records["judge"]) == [p["id"] for p in problems]
