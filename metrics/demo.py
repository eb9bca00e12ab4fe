"""Scoring step of ``scigenbench demo``: the mini-set runs scored offline with the OCR proxy, then the leaderboard."""

from __future__ import annotations

from pathlib import Path


def ocr_problem() -> str | None:
    """Why the OCR proxy cannot score here (one line with the fix), or ``None`` when an engine can run."""
    from scigenbench.metrics.ocr import available_engines

    problems = available_engines()
    if any(problem is None for problem in problems.values()):
        return None
    return "no OCR engine can run: " + "; ".join(problems.values())


def score_demo(run_dirs: list[str | Path], out_dir: str | Path, *, progress: bool = False) -> str:
    """Score each run's images with the ``ocr`` proxy answerer (inverse quiz only, no model, no network) and build
    the leaderboard in ``out_dir``. Returns the leaderboard as Markdown (the rows are labelled as proxy rows).

    Without an OCR engine nothing is scored: every run's line says ``not run: <reason>`` and no leaderboard is built
    (a missing tool is not a 0 % score).

    Args:
        run_dirs: generation run folders of the mini set.
        out_dir: folder for the leaderboard tables and plots.
        progress: show progress bars.
    """
    from scigenbench.metrics.evaluation import evaluate_run
    from scigenbench.metrics.leaderboard import build_leaderboard

    header = "Scores (OCR proxy: reads text in the image, answers quizzes; not a model judge):"
    problem = ocr_problem()
    if problem:
        return "\n".join([header, *(f"{Path(d).name}: quiz scores not run: {problem}" for d in run_dirs),
                          "", "Leaderboard: not built (nothing was scored)."])
    lines = []
    for run_dir in run_dirs:
        report = evaluate_run(run_dir, ["quiz"], "ocr", dataset=None, progress=progress, n_boot=200)
        lines.append(f"{Path(run_dir).name}: {quiz_line(report.summaries['quiz'], report.records['quiz'])}")
    markdown = build_leaderboard(run_dirs, out_dir, title="SciGenBench mini-set demo (OCR proxy, not a judge)",
                                 sections=("overall", "by_domain"))
    return "\n".join([header, *lines, "", markdown])


def quiz_line(summary: dict, records: list) -> str:
    """One line per run: the proxy's accuracy with coverage and the guessing baseline, or why nothing was scored."""
    cov = summary["coverage"]
    model = ", ".join(summary.get("judge_models") or []) or "ocr proxy"
    if cov["n_scored"] == 0:
        reasons = sorted({r.reason for r in records if getattr(r, "reason", None)})
        return f"quiz scores not run: {reasons[0] if reasons else 'no item could be scored'}"
    missing = f", {cov['n_missing']} without an image" if cov["n_missing"] else ""
    unscored = f", {cov['n_unscored']} unscored" if cov["n_unscored"] else ""
    return (f"[PROXY {model}] quiz accuracy {_pct(summary['quiz_acc_micro']['strict'])} strict, "
            f"{_pct(summary['quiz_acc_micro']['lenient'])} over scored items ({cov['n_scored']} of "
            f"{cov['n_items']} items scored{missing}{unscored}); guessing baseline "
            f"{_pct(summary['guessing_baseline'].get('best_micro'))}")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
