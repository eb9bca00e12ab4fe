"""The offline demo's generation step: the mini set with ImgCoder over ``replay`` and with ``text-card``.

ImgCoder's backbone is a ``replay:`` recording built from the mini set's hand-written reference programs
(:func:`scigenbench.generators.imgcoder.build_replay_recordings`), so the whole pipeline (prompts, parsing,
sandboxed rendering, verification) runs with no model and no network. ``scigenbench demo`` calls
:func:`generate_demo` and then scores both runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def generate_demo(out_dir: str | Path, *, problems: list[dict[str, Any]] | None = None, concurrency: int = 2,
                  progress: bool = True, verbose: bool = True) -> dict[str, Path]:
    """Generate the mini set twice into ``out_dir``: ``imgcoder/`` (replay backbone) and ``text-card/``.

    Re-running resumes both runs: done ids are skipped, failed and skipped ones (e.g. the TikZ figures on a
    machine that had no TeX) are generated again.

    Args:
        out_dir: Folder for the two run folders and the replay recording.
        problems: Problem rows (default: the whole bundled mini set).
        concurrency: Items in flight per run.
        progress: Show progress bars.
        verbose: Print each run's summary.

    Returns:
        ``{"imgcoder": <run dir>, "text-card": <run dir>}``.

    Raises:
        RuntimeError: a run in which every item failed (the demo is broken, not the user's setup).
    """
    from scigenbench.dataset import load_mini_problems
    from scigenbench.generators.baselines import make_text_card
    from scigenbench.generators.imgcoder import ImgCoderConfig, build_replay_recordings, make_imgcoder
    from scigenbench.generators.runner import run_generation

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    problems = list(problems) if problems is not None else load_mini_problems()
    config = ImgCoderConfig()
    recording = build_replay_recordings(problems, out / "imgcoder.replay.jsonl", config)
    replayable = set(recording["ids"])
    if verbose and recording.get("skipped"):
        print(f"ImgCoder replay: {len(recording['skipped'])} problem(s) without a reference are left out: "
              + ", ".join(sorted(recording["skipped"])))
    runs = {"imgcoder": out / "imgcoder", "text-card": out / "text-card"}
    with make_imgcoder(backbone=f"replay:{recording['path']}", config=config) as coder:
        summary = run_generation(coder, [p for p in problems if str(p["id"]) in replayable], runs["imgcoder"],
                                 concurrency=concurrency, progress=progress, dataset="mini", retry_failed=True)
    _check(summary, verbose)
    with make_text_card() as card:
        summary = run_generation(card, problems, runs["text-card"], concurrency=concurrency, progress=progress,
                                 dataset="mini", retry_failed=True)
    _check(summary, verbose)
    return runs


def missing_tools() -> list[tuple[str, str]]:
    """What this machine lacks for the demo's generation step: ``(missing tool and fix, what that skips)``."""
    import shutil

    from scigenbench.generators.imgcoder.pipeline import missing_renderer

    out = []
    tikz = missing_renderer("tikz")
    if tikz:
        from importlib import resources

        refs = resources.files("scigenbench.dataset").joinpath("mini/references")
        n_tikz = sum(1 for f in refs.iterdir() if f.name.endswith(".tex"))
        out.append((tikz, f"ImgCoder's {n_tikz} TikZ figures are skipped (reported as skipped, not as render "
                          "failures; the next `scigenbench demo` retries them)"))
    if shutil.which("bwrap") is None:
        out.append(("bwrap not found on PATH (apt-get install bubblewrap)",
                    "the sandbox runs without its namespaces (`scigenbench doctor` lists the layers left)"))
    return out


def _check(summary, verbose: bool) -> None:
    if verbose:
        print(summary.format())
    if summary.all_failed:
        raise RuntimeError(f"demo generation with {summary.generator} failed for every item; see "
                           f"{summary.run_dir}/attempts.jsonl for the errors")
