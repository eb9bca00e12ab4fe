"""Agreement statistics against values computed by hand on small tables (the derivations are in the comments)."""

import pytest

from scigenbench.metrics import agreement as ag

# 3 judges, 4 units, one abstention (C on u2)
NOMINAL = {"u1": {"A": "a", "B": "a", "C": "a"}, "u2": {"A": "a", "B": "b"},
           "u3": {"A": "b", "B": "b", "C": "b"}, "u4": {"A": "a", "B": "b", "C": "b"}}
# 2 judges on the judge's 0-2 scale
ORDINAL = {"u1": {"A": 0, "B": 0}, "u2": {"A": 1, "B": 2}, "u3": {"A": 2, "B": 2}, "u4": {"A": 2, "B": 1}}


def test_nominal_alpha_matches_the_coincidence_matrix_by_hand():
    # coincidences: o_aa = 3 (u1), o_ab = o_ba = 1 (u2) + 1 (u4), o_bb = 3 (u3) + 1 (u4); n_a = 5, n_b = 6, n = 11
    # alpha = 1 - (n - 1) * (o_ab + o_ba) / (2 n_a n_b) = 1 - 10 * 4 / 60 = 1/3
    assert ag.krippendorff_alpha(NOMINAL, "nominal") == pytest.approx(1 / 3)


def test_ordinal_alpha_uses_the_whole_judge_scale_by_hand():
    # o_00 = 2, o_12 = o_21 = 2, o_22 = 2; n_0 = 2, n_1 = 2, n_2 = 4, n = 8
    # ordinal δ²: δ01 = (4 - 2)² = 4, δ12 = (6 - 3)² = 9, δ02 = (8 - 3)² = 25
    # alpha = 1 - (n - 1) Σ o δ² / Σ n_c n_k δ² = 1 - 7 * 36 / 576 = 0.5625
    assert ag.krippendorff_alpha(ORDINAL, "ordinal") == pytest.approx(0.5625)


def test_alpha_is_undefined_without_variation_or_a_second_judge():
    assert ag.krippendorff_alpha({"u1": {"A": "a", "B": "a"}, "u2": {"A": "a", "B": "a"}}) is None
    assert ag.krippendorff_alpha({"u1": {"A": "a"}, "u2": {"A": "b"}}) is None


def test_cohen_kappa_unweighted_by_hand():
    # A vs B over u1..u4: agree on 2 of 4 (p_o = .5); marginals A (a .75, b .25), B (a .25, b .75): p_e = .375
    # kappa = (.5 - .375) / (1 - .375) = 0.2; C is paired with A on 3 units, with B on 3
    kappas = ag.pairwise(NOMINAL, ag.cohen_kappa)
    assert kappas["A vs B"] == pytest.approx(0.2)
    assert set(kappas) == {"A vs B", "A vs C", "B vs C"}


def test_cohen_kappa_quadratic_by_hand():
    # observed weighted disagreement: (1,2) and (2,1) each .25 * 1/4 -> .125
    # expected: Σ a_i b_j (i - j)² / 4 with marginals (.25, .25, .5) for both -> .34375; kappa = 1 - .125/.34375
    x, y = ag.paired(ORDINAL, "A", "B")
    assert ag.cohen_kappa(x, y, weights="quadratic", scale=(0, 1, 2)) == pytest.approx(1 - 0.125 / 0.34375)


def test_spearman_by_hand():
    # ranks differ by 1 on two items: 1 - 6 Σd² / (n (n² - 1)) = 1 - 12 / 60
    assert ag.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert ag.spearman([1, 1, 1], [1, 2, 3]) is None


def test_majority_leaves_ties_unscored():
    assert ag.majority(["B", "B", "C"]) == "B"
    assert ag.majority(["B", "C"]) is None
    assert ag.majority(["B", None, None]) == "B"
    assert ag.majority([None, None]) is None


def test_spread_of_repeated_scores():
    s = ag.spread([1.0, 2.0, None, 0.0])
    assert (s["n"], s["mean"], s["min"], s["max"]) == (3, 1.0, 0.0, 2.0)
    assert s["sd"] == pytest.approx(1.0)


def test_rank_stability_reports_flips_between_judges():
    # J1: r1 > r2 > r3; J2: r2 > r3 > r1. Pairs: (r1, r2) and (r1, r3) flip, (r2, r3) does not.
    # tau = (concordant - discordant) / 3 = (1 - 2) / 3
    out = ag.rank_stability({"J1": {"r1": 0.9, "r2": 0.5, "r3": 0.1}, "J2": {"r1": 0.2, "r2": 0.6, "r3": 0.4}})
    assert out["orders"] == {"J1": ["r1", "r2", "r3"], "J2": ["r2", "r3", "r1"]}
    assert not out["stable"] and not out["same_top"]
    assert out["kendall_tau"]["J1 vs J2"] == pytest.approx(-1 / 3)
    assert [f["runs"] for f in out["flips"]] == [["r1", "r2"], ["r1", "r3"]]
    same = ag.rank_stability({"J1": {"r1": 0.9, "r2": 0.5}, "J2": {"r1": 0.8, "r2": 0.1}})
    assert same["stable"] and same["flips"] == [] and same["kendall_tau"]["J1 vs J2"] == 1.0
