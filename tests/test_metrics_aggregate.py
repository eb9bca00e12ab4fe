"""Aggregation: coverage, strict vs lenient, quiz micro/macro/perfect, breakdowns, seeded bootstrap, baselines."""

import pytest

from scigenbench.metrics.aggregate import coverage, pooled_upstream, summarize
from scigenbench.metrics.quiz import guessing_baseline
from scigenbench.metrics.records import ItemResult


def judge_record(item_id, state, score=None, domain="Physics", image_type="Physics - Mechanical"):
    details = {"dimensions": {k: score for k in ("Correctness_Fidelity", "Layout_Precision",
                                                 "Readability_Occlusion", "Scientific_Plausibility",
                                                 "Expressiveness_Richness")}} if state == "scored" else {}
    return ItemResult(id=item_id, metric="judge", state=state, score=score, details=details,
                      reason=None if state == "scored" else f"{state} because", domain=domain,
                      image_type=image_type)


def quiz_record(item_id, state, correct=0, n=4, domain="Math"):
    return ItemResult(id=item_id, metric="quiz", state=state, score=correct / n if state == "scored" else None,
                      reason=None if state == "scored" else "why", domain=domain,
                      details={"n_quizzes": n, "n_correct": correct})


def test_unscored_and_not_applicable_stay_out_of_both_means_missing_counts_zero_in_strict():
    records = [judge_record("a", "scored", 2), judge_record("b", "scored", 1), judge_record("c", "missing"),
               judge_record("d", "unscored"), judge_record("e", "not_applicable")]
    s = summarize(records, "judge", n_boot=0)
    assert s["overall"]["lenient"] == pytest.approx(1.5)
    assert s["overall"]["strict"] == pytest.approx(1.0)
    cov = s["coverage"]
    assert (cov["n_items"], cov["n_scored"], cov["n_unscored"], cov["n_missing"], cov["n_not_applicable"]) == \
        (5, 2, 1, 1, 1)
    assert cov["reasons"]["unscored"] == {"unscored because": 1}


def test_quiz_micro_weighs_quizzes_macro_weighs_items():
    records = [quiz_record("a", "scored", 1, n=1), quiz_record("b", "scored", 1, n=4),
               quiz_record("c", "missing", n=5)]
    s = summarize(records, "quiz", n_boot=0)
    assert s["quiz_acc_micro"]["lenient"] == pytest.approx(2 / 5)
    assert s["quiz_acc_micro"]["strict"] == pytest.approx(2 / 10)
    assert s["quiz_acc_macro"]["lenient"] == pytest.approx((1 + 0.25) / 2)
    assert s["perfect_image_rate"]["strict"] == pytest.approx(1 / 3)


def test_breakdowns_have_their_own_coverage():
    records = [judge_record("a", "scored", 2, domain="Physics"), judge_record("b", "missing", domain="Math",
                                                                              image_type="Math - Plane Geometric")]
    s = summarize(records, "judge", n_boot=0)
    assert s["by_domain"]["Physics"]["overall"]["strict"] == 2.0
    assert s["by_domain"]["Math"]["coverage"]["n_missing"] == 1
    assert s["by_domain"]["Math"]["overall"]["lenient"] is None
    assert set(s["by_image_type"]) == {"Physics - Mechanical", "Math - Plane Geometric"}


def test_bootstrap_is_seeded_and_brackets_the_mean():
    records = [judge_record(str(i), "scored", i % 3) for i in range(30)]
    first = summarize(records, "judge", n_boot=300, seed=7)["overall"]
    again = summarize(records, "judge", n_boot=300, seed=7)["overall"]
    other = summarize(records, "judge", n_boot=300, seed=8)["overall"]
    assert first["lenient_ci95"] == again["lenient_ci95"] != other["lenient_ci95"]
    lo, hi = first["lenient_ci95"]
    assert lo < first["lenient"] < hi


def test_pooled_upstream_pools_rows_and_is_not_labelled_compat_from_default_records():
    quiz = [quiz_record("a", "scored", 3, n=4), quiz_record("b", "missing")]
    rinv = [ItemResult(id="a", metric="rinv", state="scored", score=1.0)]
    pooled = pooled_upstream(quiz, rinv)
    assert pooled["pooled_acc"] == pytest.approx(4 / 5) and pooled["pooled_perfect_rate"] == 0.0
    assert pooled["protocol"] == "default"


def test_pooled_upstream_carries_the_compat_label_only_from_compat_records():
    quiz = quiz_record("a", "scored", 4, n=4)
    quiz.protocol, quiz.switches = "upstream-compat", ["quiz_grader=llm"]
    rinv = ItemResult(id="a", metric="rinv", state="scored", score=1.0, protocol="upstream-compat",
                      switches=["rinv_verdict=upstream"])
    pooled = pooled_upstream([quiz], [rinv])
    assert pooled["protocol"] == "upstream-compat" and pooled["pooled_perfect_rate"] == 1.0
    assert {"quiz_grader=llm", "rinv_verdict=upstream"} <= set(pooled["switches"])


def test_coverage_of_nothing():
    assert coverage([])["n_items"] == 0


@pytest.mark.needs_upstream
def test_guessing_baseline_on_real_scigen_matches_protocol(upstream_dir):
    import json

    from scigenbench.dataset import normalise_rows

    rows, _ = normalise_rows(json.loads((upstream_dir / "scigen.json").read_text()), "scigen")
    baseline = guessing_baseline(rows)
    assert baseline["n_quizzes"] == 4146
    assert baseline["best_letter"] == "C"
    assert round(baseline["best_micro"] * 100, 1) == 40.2   # PROTOCOL §1.4: "always C" micro
    assert round(baseline["micro_by_letter"]["B"] * 100, 1) == 37.2
    assert round(baseline["best_perfect_image_rate"] * 100, 1) == 3.3


@pytest.mark.needs_upstream
def test_guessing_baseline_on_real_seephys_uses_the_best_perfect_letter(upstream_dir):
    import json

    from scigenbench.dataset import normalise_rows

    rows, _ = normalise_rows(json.loads((upstream_dir / "seephys.json").read_text()), "seephys")
    baseline = guessing_baseline(rows)
    assert baseline["best_letter"] == "C" and round(baseline["best_micro"] * 100, 1) == 41.9
    assert baseline["best_perfect_letter"] == "B"          # PROTOCOL §1.4: always B, 24 items
    assert round(baseline["best_perfect_image_rate"] * 100, 1) == 7.3


def test_judge_per_dimension_means_by_hand():
    dims = ("Correctness_Fidelity", "Layout_Precision", "Readability_Occlusion", "Scientific_Plausibility",
            "Expressiveness_Richness")
    a = ItemResult(id="a", metric="judge", state="scored", score=1.0,
                   details={"dimensions": dict(zip(dims, [2, 0, 1, 1, 1]))})
    b = ItemResult(id="b", metric="judge", state="scored", score=1.6,
                   details={"dimensions": dict(zip(dims, [1, 2, 2, 2, 1]))})
    c = ItemResult(id="c", metric="judge", state="missing", reason="generation failed")
    s = summarize([a, b, c], "judge", n_boot=0)
    assert s["Correctness_Fidelity"]["lenient"] == pytest.approx(1.5)
    assert s["Correctness_Fidelity"]["strict"] == pytest.approx(1.0)
    assert s["Layout_Precision"]["strict"] == pytest.approx(2 / 3)
    assert s["overall"]["lenient"] == pytest.approx(1.3)


def test_pooled_upstream_perfect_needs_every_quiz_and_rinv():
    quiz = [quiz_record("a", "scored", 2, n=2), quiz_record("b", "scored", 2, n=2),
            quiz_record("c", "unscored")]
    rinv = [ItemResult(id="a", metric="rinv", state="scored", score=1.0),
            ItemResult(id="b", metric="rinv", state="scored", score=0.0),
            ItemResult(id="c", metric="rinv", state="scored", score=1.0),
            ItemResult(id="d", metric="rinv", state="not_applicable", reason="no multimodal_question")]
    pooled = pooled_upstream(quiz, rinv)
    # rows: a 2/2 + 1, b 2/2 + 0, c (quiz unscored, dropped like upstream's excluded rows) 1 -> 6/7
    assert pooled["pooled_acc"] == pytest.approx(6 / 7)
    assert pooled["pooled_perfect_rate"] == pytest.approx(2 / 3)   # a and c perfect, b not


def test_strict_ci_is_computed_over_missing_too():
    records = [judge_record(str(i), "scored", 2) for i in range(20)] + \
        [judge_record(f"m{i}", "missing") for i in range(20)]
    s = summarize(records, "judge", n_boot=400, seed=1)["overall"]
    assert s["lenient_ci95"] == [2.0, 2.0]
    lo, hi = s["strict_ci95"]
    assert lo < 1.0 < hi and hi - lo < 1.0


@pytest.mark.parametrize("metric", ["judge", "quiz", "rinv"])
def test_an_undecodable_image_is_missing_not_unscored(metric):
    from scigenbench.metrics import judge, quiz, rinv
    from scigenbench.metrics.specs import resolve_backend

    backend = resolve_backend("fake", responses=["Answer: A"] * 4, cache=False)
    problem = {"id": "x", "source": "scigen", "domain": "Math", "image_type": None, "question": "q",
               "answer": "1", "multimodal_question": "mq",
               "quizzes": [{"question": "q", "options": {"A": "1", "B": "2"}, "correct_option": "A"}]}
    item = {"judge": lambda: judge.judge_item(problem, b"not an image", backend),
            "quiz": lambda: quiz.quiz_item(problem, b"not an image", backend),
            "rinv": lambda: rinv.rinv_item(problem, b"not an image", backend)}[metric]()
    assert item.state == "missing" and item.reason.startswith("image unreadable")
    assert item.calls == 0 and item.image_sha256
