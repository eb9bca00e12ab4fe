"""Aggregation of per-item records (PROTOCOL §4): coverage, strict and lenient means, breakdowns, bootstrap CIs.

- strict mean  = Σ scores / (n_scored + n_missing): a missing image counts 0;
- lenient mean = Σ scores / n_scored: upstream's missing-excluded number (``missing="exclude"``);
- unscored and not-applicable items stay out of both (re-run to reduce unscored ones).

Quiz metrics add micro accuracy (over quizzes), macro accuracy (per-item mean, then over items) and the
perfect-image rate, each strict and lenient. Fidelity has no meaningful zero: means over available pairs only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from scigenbench.metrics.parsing import JUDGE_DIMENSIONS
from scigenbench.metrics.records import (
    COMPAT_PROTOCOL, MISSING, NOT_APPLICABLE, SCORED, STATES, UNSCORED, ItemResult,
)

DEFAULT_BOOTSTRAP = 1000


def coverage(records: list[ItemResult]) -> dict[str, Any]:
    """``n_items``, ``n_scored``, ``n_unscored``, ``n_missing``, ``n_not_applicable`` and reason counts."""
    states = Counter(r.state for r in records)
    reasons: dict[str, Counter] = {s: Counter() for s in (UNSCORED, MISSING, NOT_APPLICABLE)}
    for r in records:
        if r.state in reasons:
            reasons[r.state][_reason_kind(r.reason)] += 1
    return {"n_items": len(records), **{f"n_{s}": states.get(s, 0) for s in STATES},
            "reasons": {s: dict(c.most_common(10)) for s, c in reasons.items() if c}}


def _reason_kind(reason: str | None) -> str:
    """Group reasons by their first two ``": "``-separated parts (e.g. "judge call failed: transient"), so the
    details (error messages, raw replies) do not split the counts."""
    return ": ".join((reason or "").split(": ")[:2])[:120]


def _ratio(num: np.ndarray, den: np.ndarray) -> float | None:
    total = den.sum()
    return float(num.sum() / total) if total > 0 else None


def _bootstrap(num: np.ndarray, den: np.ndarray, n_boot: int, seed: int,
               samples: list[np.ndarray] | None = None) -> list[float] | None:
    """95 % percentile CI of Σnum/Σden under resampling of items (seeded).

    With ``samples`` (each item's per-sample numerators, K judge samples), the bootstrap has two stages: items are
    resampled, and each resampled item's numerator is the mean of its K samples drawn again with replacement, so
    the interval holds both the item sampling and the judge's own sampling variance (PROTOCOL §4.1)."""
    if n_boot <= 0 or len(num) < 2 or den.sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(n_boot, len(num)))
    dens = den[idx].sum(axis=1)
    ok = dens > 0
    if samples is not None and any(len(s) > 1 for s in samples):
        redrawn = np.column_stack([s[rng.integers(0, len(s), size=(n_boot, len(s)))].mean(axis=1)
                                   for s in samples])
        stats = redrawn[np.arange(n_boot)[:, None], idx].sum(axis=1)[ok] / dens[ok]
    else:
        stats = num[idx].sum(axis=1)[ok] / dens[ok]
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return [float(lo), float(hi)]


def ratio_stat(rows: list[tuple[str, Any, float]], n_boot: int, seed: int) -> dict[str, Any]:
    """Strict and lenient Σnum/Σden with CIs. ``rows`` = (state, numerator, denominator) per item; missing items
    bring their denominator with a zero numerator to the strict statistic only. A numerator may be the list of an
    item's per-sample values (repeated judge sampling): its mean counts, and the CI is the two-stage bootstrap."""
    strict = [(n, d) for s, n, d in rows if s in (SCORED, MISSING)]
    lenient = [(n, d) for s, n, d in rows if s == SCORED]
    out = {}
    for name, pairs in (("strict", strict), ("lenient", lenient)):
        samples = [np.atleast_1d(np.asarray(p[0], dtype=float)) for p in pairs]
        num = np.array([s.mean() for s in samples], dtype=float)
        den = np.array([p[1] for p in pairs], dtype=float)
        out[name] = _ratio(num, den)
        out[f"{name}_ci95"] = _bootstrap(num, den, n_boot, seed, samples)
    return out


def _scored_samples(r: ItemResult) -> list[dict[str, Any]]:
    return [s for s in r.details.get("samples") or [] if s.get("state") == SCORED]


def _mean_rows(records: list[ItemResult], value: Callable[[ItemResult], float],
               per_sample: Callable[[dict[str, Any]], float] | None = None) -> list[tuple[str, Any, float]]:
    """(state, value, 1) per item; with ``per_sample`` and repeated samples, the value is the per-sample list."""
    rows = []
    for r in records:
        samples = _scored_samples(r) if per_sample is not None and r.state == SCORED else []
        value_of = [per_sample(s) for s in samples] if samples else (value(r) if r.state == SCORED else 0.0)
        rows.append((r.state, value_of, 1.0))
    return rows


def summarize_judge(records: list[ItemResult], n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    out = {"overall": ratio_stat(_mean_rows(records, lambda r: r.score, lambda s: s["score"]), n_boot, seed)}
    for dim in JUDGE_DIMENSIONS:
        out[dim] = ratio_stat(_mean_rows(records, lambda r, d=dim: r.details["dimensions"][d],
                                         lambda s, d=dim: s["dimensions"][d]), n_boot, seed)
    return out


def _perfect_row(r: ItemResult) -> tuple[str, Any, float]:
    """The perfect-image row of an item: the perfect-image state of an item with an unscored quiz (and no wrong
    one) is unknown and left out; with repeated samples, the per-sample values of the samples where it is known."""
    def known(d: dict[str, Any], score: Any) -> Any:
        return d.get("perfect", score == 1.0)

    if r.state != SCORED:
        return r.state, 0.0, 1.0
    samples = _scored_samples(r)
    if samples:
        values = [float(bool(known(s, s["score"]))) for s in samples if known(s, s["score"]) is not None]
        return (SCORED, values, 1.0) if values else (UNSCORED, 0.0, 1.0)
    perfect = known(r.details, r.score)
    return (UNSCORED, 0.0, 1.0) if perfect is None else (SCORED, float(bool(perfect)), 1.0)


def summarize_quiz(records: list[ItemResult], n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    def n_quizzes(r: ItemResult) -> float:
        """Quizzes in the micro denominator: the graded ones of a scored item (a quiz whose grading failed is left
        out), every scorable one of a missing item."""
        if r.state == SCORED:
            return float(r.details.get("n_graded", r.details.get("n_quizzes", 0)))
        return float(r.details.get("n_quizzes", 0))

    def n_correct(r: ItemResult) -> Any:
        if r.state != SCORED:
            return 0.0
        samples = _scored_samples(r)
        return [float(s["n_correct"]) for s in samples] if samples else float(r.details.get("n_correct", 0))

    micro = [(r.state, n_correct(r), n_quizzes(r)) for r in records]
    return {
        "quiz_acc_micro": ratio_stat(micro, n_boot, seed),
        "quiz_acc_macro": ratio_stat(_mean_rows(records, lambda r: r.score, lambda s: s["score"]), n_boot, seed),
        "perfect_image_rate": ratio_stat([_perfect_row(r) for r in records], n_boot, seed),
        "n_quizzes_scored": int(sum(n_quizzes(r) for r in records if r.state == SCORED)),
        "n_quizzes_unscored": int(sum(r.details.get("n_unscored_quizzes", 0) for r in records if r.state == SCORED)
                                  + sum(r.details.get("n_quizzes", 0) for r in records if r.state == UNSCORED)),
        "n_perfect_unscored": sum(1 for r in records if r.state == SCORED and r.details.get("perfect", True) is None),
        "read_by_rule": int(sum((r.details.get("read_by") or {}).get("rule", 0) for r in records)),
        "read_by_grader": int(sum((r.details.get("read_by") or {}).get("grader", 0) for r in records)),
        "answer_calls": int(sum(r.details.get("answer_calls", 0) for r in records)),
        "grader_calls": int(sum(r.details.get("grader_calls", 0) for r in records)),
    }


def summarize_rinv(records: list[ItemResult], n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    methods = Counter(r.details.get("method") for r in records if r.state == SCORED)
    verdicts = Counter(r.details.get("verdict") for r in records if r.state == SCORED)
    return {"rinv_acc": ratio_stat(_mean_rows(records, lambda r: r.score, lambda s: s["score"]), n_boot, seed),
            "by_method": dict(methods), "verdicts": dict(verdicts)}


def summarize_fidelity(records: list[ItemResult], **_: Any) -> dict[str, Any]:
    """Means over available pairs (no strict mean: these metrics have no meaningful zero)."""
    out: dict[str, Any] = {}
    scored = [r for r in records if r.state == SCORED]
    for key in ("psnr", "ssim"):
        values = [r.details[key] for r in scored if r.details.get(key) is not None]
        out[key] = {"mean": float(np.mean(values)) if values else None, "n": len(values)}
    return out


SUMMARIZERS = {"judge": summarize_judge, "quiz": summarize_quiz, "quiz_blind": summarize_quiz,
               "rinv": summarize_rinv, "fidelity": summarize_fidelity}


def summarize(records: Iterable[ItemResult], metric: str, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0,
              breakdowns: bool = True) -> dict[str, Any]:
    """Summary of one metric: coverage, its statistics, and the same per domain and per image type.

    Args:
        records: one record per item (latest per id).
        metric: ``judge``, ``quiz``, ``quiz_blind``, ``rinv`` or ``fidelity``.
        n_boot: bootstrap resamples for the 95 % CIs (0 disables them).
        seed: bootstrap seed.
        breakdowns: add ``by_domain`` and ``by_image_type``.
    """
    records = list(records)
    summarizer = SUMMARIZERS[metric]
    out = {"metric": metric, "coverage": coverage(records), **summarizer(records, n_boot=n_boot, seed=seed)}
    protocols = sorted({r.protocol for r in records})
    out["protocol"] = protocols[0] if len(protocols) == 1 else protocols
    out["switches"] = sorted({s for r in records for s in r.switches})
    models = sorted({r.judge_model for r in records if r.judge_model})
    out["judge_models"] = models
    out["prompt_versions"] = sorted({r.prompt_version for r in records if r.prompt_version})
    out["proxy"] = any(m.startswith("ocr-proxy") for m in models)
    if breakdowns:
        for key, field in (("by_domain", "domain"), ("by_image_type", "image_type")):
            groups: dict[str, list[ItemResult]] = defaultdict(list)
            for r in records:
                if getattr(r, field):
                    groups[getattr(r, field)].append(r)
            out[key] = {g: {"coverage": coverage(rs), **summarizer(rs, n_boot=n_boot, seed=seed)}
                        for g, rs in sorted(groups.items())}
    return out


def pooled_upstream(quiz: list[ItemResult], rinv: list[ItemResult]) -> dict[str, Any]:
    """Upstream's ``Acc_comb``/``Perf_comb`` formula: quiz rows and R_inv rows pooled micro, over scored items only
    (upstream's denominators); an id is perfect when the mean of its pooled rows is exactly 1.

    ``protocol`` is ``"upstream-compat"`` only when every record pooled was itself produced in upstream-compat mode
    (upstream's quiz verification and R_inv verdict reading); pooled from default records it is ``"default"``: the
    same formula over our own grading, not a number comparable to upstream's."""
    by_id: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for r in quiz:
        if r.state == SCORED:
            by_id[r.id].append((float(r.details["n_correct"]),
                                int(r.details.get("n_graded", r.details["n_quizzes"]))))
    for r in rinv:
        if r.state == SCORED:
            by_id[r.id].append((int(r.score), 1))
    correct = sum(c for rows in by_id.values() for c, _ in rows)
    total = sum(n for rows in by_id.values() for _, n in rows)
    perfect = sum(sum(n for _, n in rows) > 0 and sum(c for c, _ in rows) / sum(n for _, n in rows) == 1.0
                  for rows in by_id.values())
    pooled = [r for r in (*quiz, *rinv) if r.state == SCORED]
    compat = bool(pooled) and all(r.protocol == COMPAT_PROTOCOL for r in pooled)
    switches = sorted({s for r in pooled for s in r.switches}) if compat else []
    return {"pooled_acc": correct / total if total else None,
            "pooled_perfect_rate": perfect / len(by_id) if by_id else None,
            "n_rows": total, "n_items": len(by_id), "protocol": COMPAT_PROTOCOL if compat else "default",
            "switches": ["quiz_pooling=upstream", "missing=exclude", *switches]}
