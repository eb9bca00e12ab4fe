"""Scoring step of ``scigenbench demo``: the mini-set runs scored offline with the OCR proxy, then the leaderboard."""

from __future__ import annotations

from pathlib import Path


def score_demo(run_dirs: list[str | Path], out_dir: str | Path, *, progress: bool = False) -> str:
    """Score each run's images with the ``ocr`` proxy answerer (inverse quiz only, no model, no network) and build
    the leaderboard in ``out_dir``. Returns the leaderboard as Markdown (the rows are labelled as proxy rows).

    Args:
        run_dirs: generation run folders of the mini set.
        out_dir: folder for the leaderboard tables and plots.
        progress: show progress bars.
    """
    from scigenbench.metrics.evaluation import evaluate_run
    from scigenbench.metrics.leaderboard import build_leaderboard

    lines = []
    for run_dir in run_dirs:
        report = evaluate_run(run_dir, ["quiz"], "ocr", dataset=None, progress=progress, n_boot=200)
        quiz = report.summaries["quiz"]
        cov = quiz["coverage"]
        lines.append(f"{Path(run_dir).name}: OCR-proxy quiz accuracy {_pct(quiz['quiz_acc_micro']['strict'])} "
                     f"(strict; {cov['n_scored']} scored, {cov['n_missing']} missing of {cov['n_items']}; "
                     f"guessing baseline {_pct(quiz['guessing_baseline'].get('best_micro'))})")
    markdown = build_leaderboard(run_dirs, out_dir, title="SciGenBench mini-set demo (OCR proxy, not a judge)",
                                 sections=("overall", "by_domain"))
    return "\n".join(["Scores (OCR proxy: reads text in the image, answers quizzes; not a model judge):", *lines,
                      "", markdown])


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
