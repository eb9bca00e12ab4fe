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


def test_pooled_upstream_is_labelled_and_pools_rows():
    quiz = [quiz_record("a", "scored", 3, n=4), quiz_record("b", "missing")]
    rinv = [ItemResult(id="a", metric="rinv", state="scored", score=1.0)]
    pooled = pooled_upstream(quiz, rinv)
    assert pooled["pooled_acc"] == pytest.approx(4 / 5) and pooled["pooled_perfect_rate"] == 0.0
    assert pooled["protocol"] == "upstream-compat"


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
