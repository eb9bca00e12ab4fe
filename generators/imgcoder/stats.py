"""Per-run ImgCoder statistics from the per-item records (render rate at first try and after repair, ...)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable


def run_stats(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate ImgCoder records (``GenerationOutput.to_record()`` or run-folder rows).

    Items that never reached a render (a failed backbone call) count in ``n`` and as not rendered, so the
    rates are over every attempted item, not only the lucky ones; items ``skipped`` because this machine lacks
    the renderer (no TeX for TikZ) count in ``n`` and ``statuses`` but not in the rates.

    Returns:
        ``n``, ``n_ok``, ``statuses`` (count per status), ``render_rate_first_try``,
        ``render_rate_after_repair``, ``verified_rate_first_try``, ``verified_rate``, ``mean_rounds``
        (over items that reached a render), ``rounds_histogram``, ``checks_failed`` (count per check name, over
        items whose final round failed it), ``prompt_tokens``, ``completion_tokens``, ``cost_usd``.
    """
    records = [r for r in records if r]
    n = len(records)
    # items skipped for a renderer this machine lacks are not render failures: they are left out of the rates
    rendered = [r for r in records if r.get("status") != "skipped"]
    extras = [r.get("extra") or {} for r in rendered]
    rounds = [e.get("rounds_used", 0) for e in extras]
    reached = [k for k in rounds if k > 0]
    checks = Counter(name for e in extras for name in e.get("checks_failed", []))
    usage = [r.get("usage") or {} for r in records]

    def rate(key: str) -> float | None:
        return round(sum(bool(e.get(key)) for e in extras) / len(extras), 4) if extras else None

    return {
        "n": n,
        "n_ok": sum(r.get("status") == "ok" for r in records),
        "statuses": dict(Counter(r.get("status") for r in records)),
        "render_rate_first_try": rate("render_ok_first_try"),
        "render_rate_after_repair": rate("render_ok_after_repair"),
        "verified_rate_first_try": rate("verified_first_try"),
        "verified_rate": rate("verified"),
        "mean_rounds": round(sum(reached) / len(reached), 3) if reached else None,
        "rounds_histogram": dict(sorted(Counter(rounds).items())),
        "checks_failed": dict(checks.most_common()),
        "prompt_tokens": sum(int(u.get("prompt_tokens", 0)) for u in usage),
        "completion_tokens": sum(int(u.get("completion_tokens", 0)) for u in usage),
        "cost_usd": round(sum(float(u.get("cost_usd", 0.0)) for u in usage), 6),
    }
