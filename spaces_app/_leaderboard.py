"""The Leaderboard tab's data: evaluated runs found in the result folders, plus the paper's published rows.

Built entirely from :mod:`scigenbench.metrics.leaderboard` (the same rows and plots ``scigenbench leaderboard``
writes); this module only finds the runs and turns rows into DataFrames for Gradio.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable

from scigenbench.metrics.store import RESULTS_DIR

#: how deep below a result folder runs are looked for (``demo_out/imgcoder/scores/summary.json`` is depth 1)
MAX_DEPTH = 2


def find_runs(folders: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Evaluated run folders (with ``scores/summary.json``) in or below ``folders``, and notes on what was skipped."""
    runs: list[Path] = []
    notes: list[str] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            notes.append(f"result folder `{folder.name}` does not exist")
            continue
        found = _evaluated_below(folder, MAX_DEPTH)
        if not found:
            notes.append(f"no evaluated run in `{folder.name}` (run `scigenbench evaluate --run ...` first)")
        runs += [r for r in found if r not in runs]
    return runs, notes


def _evaluated_below(folder: Path, depth: int) -> list[Path]:
    if (folder / RESULTS_DIR / "summary.json").is_file():
        return [folder]
    if depth == 0:
        return []
    found: list[Path] = []
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found += _evaluated_below(child, depth - 1)
    return found


_views: dict[tuple, dict[str, Any]] = {}
_views_lock = threading.Lock()


def build_view(result_folders: Iterable[Path]) -> dict[str, Any]:
    """The view for the current state of ``result_folders`` (cached until a run's summary changes); see
    :func:`_build_view`. Callers must not modify the returned tables."""
    runs, _ = find_runs(result_folders)
    key = (tuple(str(f) for f in result_folders),
           tuple((str(r), (r / RESULTS_DIR / "summary.json").stat().st_mtime_ns) for r in runs))
    with _views_lock:
        if key not in _views:
            _views[key] = _build_view(result_folders)
        return dict(_views[key])


def _build_view(result_folders: Iterable[Path]) -> dict[str, Any]:
    """``{"table", "domains", "plot", "radar", "message"}``: the overall table (runs then published rows), the
    per-domain table (runs only, or ``None``), the per-domain bar chart and the judge radar (PNG paths or
    ``None``), and a Markdown note on where the rows came from."""
    import pandas as pd

    from scigenbench.metrics import leaderboard as lb

    runs, notes = find_runs(result_folders)
    loaded, rows = [], []
    for run_dir in runs:
        try:
            run = lb.load_run(run_dir)
            rows.append(lb.run_row(run))
            loaded.append(run)
        except Exception as exc:  # noqa: BLE001 - a broken summary: skip that run, say which
            notes.append(f"run `{run_dir.name}` skipped: {type(exc).__name__}: {exc}")
    published = lb.published_rows()
    all_rows = rows + published
    columns = lb.shown_columns(all_rows, lb.OVERALL_COLUMNS)
    table = pd.DataFrame([{lb.column_label(c): _cell(r.get(c)) for c in columns} for r in all_rows],
                         columns=[lb.column_label(c) for c in columns])

    domain_rows = lb.breakdown_rows(loaded, "by_domain") if loaded else []
    domains = pd.DataFrame([{k: _cell(v) for k, v in r.items()} for r in domain_rows]) if domain_rows else None
    plot_dir = Path(tempfile.mkdtemp(prefix="scigenbench-leaderboard-"))  # one folder per cached view
    plot = (lb.plot_domains(domain_rows, plot_dir / "by_domain.png", baseline=lb.guessing_baseline_pct(loaded))
            if domain_rows else None)
    radar = lb.plot_radar(all_rows, plot_dir / "judge_radar.png")

    lines = [f"**{len(rows)} evaluated run(s)** from the result folders and **{len(published)} published rows** "
             "(the paper's table, labelled `published`: another protocol and judge, reference only). Run numbers "
             "are strict (missing images count 0); rows marked `[PROXY]` were answered by the OCR proxy, not a "
             "model."]
    if not runs and not notes:
        lines.append("No result folder configured: set `SCIGENBENCH_RESULTS`, or run `scigenbench demo` in the "
                     "working directory (its `demo_out/` is read).")
    lines += [f"- {note}" for note in notes]
    return {"table": table, "domains": domains, "plot": str(plot) if plot else None,
            "radar": str(radar) if radar else None, "message": "\n\n".join(lines)}


def _cell(value: Any) -> Any:
    """Table cells: ``–`` for no value (rather than NaN), numbers as they are."""
    return "–" if value is None or value == "" else value
