"""How far to trust a judge: agreement between judges, panel votes, sampling spread and rank stability.

Pure functions over small tables; nothing here calls a model. A *table* maps a unit (an item, an item's quiz, an
item's judge dimension) to ``{judge: value}``; a judge that gave no value for a unit (unscored, abstained, no
image) is simply absent there (*missing*, never a zero).

- :func:`krippendorff_alpha`: Krippendorff's alpha (``krippendorff`` package) at the nominal level (quiz letters,
  R_inv verdicts) or the ordinal level over the judge's 0–2 scale;
- :func:`cohen_kappa`: Cohen's kappa of two judges over the units both rated (unweighted for nominal data,
  quadratic weights for ordinal data);
- :func:`spearman`: Spearman's rank correlation of two judges' per-item scores;
- :func:`majority`: the panel value of one unit (ties have none: the unit is unscored for the panel);
- :func:`rank_stability`: does the order of the evaluated runs change with the judge?

PROTOCOL §4.1 says how these numbers are computed and reported.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any, Hashable, Iterable, Mapping

import numpy as np

Table = Mapping[Hashable, Mapping[str, Any]]

#: the judge's ordinal scale (PROTOCOL §2.1)
JUDGE_SCALE = (0, 1, 2)


def _require_krippendorff():
    from scigenbench._optional import require

    return require("krippendorff", purpose="Krippendorff's alpha")


def judges_of(table: Table) -> list[str]:
    """Judges appearing anywhere in ``table``, in first-seen order."""
    return list(dict.fromkeys(j for values in table.values() for j in values))


def krippendorff_alpha(table: Table, level: str = "nominal", *, scale: Iterable[Any] | None = None,
                       judges: list[str] | None = None) -> float | None:
    """Krippendorff's alpha of ``table`` (judges = coders, units = rows; absent values are missing).

    Args:
        table: ``{unit: {judge: value}}``.
        level: ``nominal`` or ``ordinal``.
        scale: the ordered values an ordinal rating can take (default: the judge scale 0–2), so that distances do
            not shrink when a value happens not to occur; for nominal data, the categories (default: those seen).
        judges: coders to include (default: every judge in the table).

    Returns:
        alpha, or ``None`` when it is undefined: fewer than two judges, no unit rated by two judges, or no
        variation at all among the pairable values (expected disagreement 0).
    """
    judges = judges or judges_of(table)
    pairable = [u for u, values in table.items() if sum(values.get(j) is not None for j in judges) >= 2]
    if len(judges) < 2 or not pairable:
        return None
    if level == "ordinal":
        domain = list(scale if scale is not None else JUDGE_SCALE)
    elif level == "nominal":
        domain = sorted({table[u][j] for u in pairable for j in judges if table[u].get(j) is not None}, key=str)
    else:
        raise ValueError(f"level must be 'nominal' or 'ordinal', got {level!r}")
    if len({table[u][j] for u in pairable for j in judges if table[u].get(j) is not None}) < 2:
        return None
    code = {value: index for index, value in enumerate(domain)}
    data = np.full((len(judges), len(pairable)), np.nan)
    for col, unit in enumerate(pairable):
        for row, judge in enumerate(judges):
            value = table[unit].get(judge)
            if value is not None:
                if value not in code:
                    raise ValueError(f"value {value!r} of unit {unit!r} (judge {judge}) is not on the scale {domain}")
                data[row, col] = code[value]
    krippendorff = _require_krippendorff()
    alpha = krippendorff.alpha(reliability_data=data, value_domain=list(range(len(domain))),
                               level_of_measurement=level)
    return None if np.isnan(alpha) else float(alpha)


def paired(table: Table, a: str, b: str) -> tuple[list[Any], list[Any]]:
    """The values of judges ``a`` and ``b`` over the units both rated, in unit order."""
    units = [u for u, values in table.items() if values.get(a) is not None and values.get(b) is not None]
    return [table[u][a] for u in units], [table[u][b] for u in units]


def cohen_kappa(x: list[Any], y: list[Any], *, weights: str | None = None,
                scale: Iterable[Any] | None = None) -> float | None:
    """Cohen's kappa of two raters over paired values.

    ``weights=None`` is the unweighted (nominal) kappa; ``"quadratic"`` weighs a disagreement by the squared
    distance of the two values' positions on ``scale`` (default: the values seen, sorted). ``None`` when there are
    no pairs or the expected disagreement is 0 (both raters constant on the same value).
    """
    if len(x) != len(y):
        raise ValueError(f"cohen_kappa needs paired values, got {len(x)} and {len(y)}")
    if not x:
        return None
    categories = list(scale) if scale is not None else sorted(set(x) | set(y), key=str)
    index = {c: i for i, c in enumerate(categories)}
    k = len(categories)
    observed = np.zeros((k, k))
    for a, b in zip(x, y):
        observed[index[a], index[b]] += 1
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    positions = np.arange(k)
    if weights is None:
        disagreement = 1.0 - np.eye(k)
    elif weights == "quadratic":
        disagreement = (positions[:, None] - positions[None, :]) ** 2 / max(1, (k - 1) ** 2)
    else:
        raise ValueError(f"weights must be None or 'quadratic', got {weights!r}")
    expected_d = float((disagreement * expected).sum())
    if expected_d == 0:
        return None
    return 1.0 - float((disagreement * observed).sum()) / expected_d


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); ``None`` with fewer than 3 pairs or a constant side."""
    if len(x) != len(y):
        raise ValueError(f"spearman needs paired values, got {len(x)} and {len(y)}")
    if len(x) < 3:
        return None
    import pandas as pd

    rx = pd.Series(x, dtype=float).rank().to_numpy()
    ry = pd.Series(y, dtype=float).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def pair_name(a: str, b: str) -> str:
    return f"{a} vs {b}"


def pairwise(table: Table, stat, judges: list[str] | None = None, **kw: Any) -> dict[str, float | None]:
    """``stat(values_a, values_b, **kw)`` for every pair of judges over the units both rated."""
    judges = judges or judges_of(table)
    return {pair_name(a, b): stat(*paired(table, a, b), **kw) for a, b in combinations(judges, 2)}


def majority(values: Iterable[Any]) -> Any:
    """The most frequent non-missing value; ``None`` when there is none or the top count is tied."""
    counts = Counter(v for v in values if v is not None).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def lower_median(values: Iterable[Any]) -> Any:
    """The lower median of non-missing values (always one of the values: stays on an ordinal scale)."""
    present = sorted(v for v in values if v is not None)
    return present[(len(present) - 1) // 2] if present else None


def spread(values: Iterable[float]) -> dict[str, Any]:
    """Mean, sample standard deviation and range of one item's repeated scores (missing samples left out)."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    return {"n": len(present), "mean": float(np.mean(present)),
            "sd": float(np.std(present, ddof=1)) if len(present) > 1 else 0.0,
            "min": min(present), "max": max(present)}


def ranking(scores: Mapping[str, float | None]) -> list[str]:
    """Runs from best to worst (higher is better; ties by name; runs without a score last)."""
    return sorted(scores, key=lambda run: (scores[run] is None, -(scores[run] or 0.0), run))


def kendall_tau(order_a: list[str], order_b: list[str]) -> float | None:
    """Kendall's tau between two orderings of the same runs (1 = same order, -1 = reversed)."""
    common = [r for r in order_a if r in order_b]
    if len(common) < 2:
        return None
    pos_b = {r: i for i, r in enumerate(order_b)}
    concordant = discordant = 0
    for i, j in combinations(range(len(common)), 2):
        if pos_b[common[i]] < pos_b[common[j]]:
            concordant += 1
        else:
            discordant += 1
    return (concordant - discordant) / (concordant + discordant)


def rank_stability(scores: Mapping[str, Mapping[str, float | None]]) -> dict[str, Any]:
    """Would the leaderboard order of the runs change with the judge?

    Args:
        scores: ``{judge: {run: headline score}}`` (higher is better).

    Returns:
        ``orders`` (runs best→worst per judge), ``stable`` (every judge gives the same order), ``same_top``
        (every judge ranks the same run first), ``kendall_tau`` per judge pair, and ``flips``: each pair of runs
        whose order depends on the judge, with the judges that put each one ahead.
    """
    judges = list(scores)
    runs = sorted({run for per_run in scores.values() for run in per_run})
    orders = {j: ranking({r: scores[j].get(r) for r in runs}) for j in judges}
    flips = []
    for a, b in combinations(runs, 2):
        ahead = {j: (a if orders[j].index(a) < orders[j].index(b) else b) for j in judges}
        if len(set(ahead.values())) > 1:
            flips.append({"runs": [a, b], "ahead": ahead})
    return {"judges": judges, "runs": runs, "orders": orders,
            "stable": len({tuple(o) for o in orders.values()}) <= 1,
            "same_top": len({o[0] for o in orders.values() if o}) <= 1,
            "kendall_tau": {pair_name(a, b): kendall_tau(orders[a], orders[b]) for a, b in combinations(judges, 2)},
            "flips": flips}


def agreement_block(table: Table, level: str, item_scores: Table | None = None,
                    scale: Iterable[Any] | None = None) -> dict[str, Any]:
    """Every agreement statistic of one metric: alpha, pairwise kappa, pairwise Spearman of item scores."""
    judges = judges_of(table) or judges_of(item_scores or {})
    weights = "quadratic" if level == "ordinal" else None
    kappa_scale = list(scale if scale is not None else JUDGE_SCALE) if level == "ordinal" else None
    out = {"level": level, "judges": judges, "n_units": len(table),
           "n_pairable_units": sum(sum(v is not None for v in values.values()) >= 2 for values in table.values()),
           "krippendorff_alpha": krippendorff_alpha(table, level, scale=scale, judges=judges),
           "cohen_kappa": pairwise(table, cohen_kappa, judges, weights=weights, scale=kappa_scale),
           "kappa_weights": weights or "none"}
    if item_scores is not None:
        out["spearman"] = pairwise(item_scores, spearman, judges_of(item_scores))
    return out
