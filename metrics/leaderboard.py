"""Leaderboard: tables (Markdown, CSV, HTML) and plots from evaluated run folders, next to the published rows.

Each run contributes one row built from ``RUN_DIR/scores/summary.json`` (written by ``scigenbench evaluate``).
Headline numbers are **strict** (missing images count 0; PROTOCOL §4) with coverage next to them; the lenient
(missing-excluded) numbers are in the CSV. The paper's rows (package data ``published/leaderboard.csv``) are
appended with ``source = "published"``. Rows scored with the OCR proxy are labelled ``proxy``.
"""

from __future__ import annotations

import csv
import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from scigenbench.metrics.parsing import JUDGE_DIMENSIONS
from scigenbench.metrics.store import RESULTS_DIR

OVERALL_COLUMNS = ["run", "source", "protocol", "answerer", "R_inv", "quiz_acc", "perfect_img", "blind_quiz_acc",
                   "guess_baseline", *JUDGE_DIMENSIONS.values(), "judge_overall", "PSNR", "SSIM", "CLIP", "FID",
                   "coverage"]
#: metric used for the per-domain and per-type tables, in order of preference
BREAKDOWN_METRICS = (("quiz", "quiz_acc_micro", 100.0), ("rinv", "rinv_acc", 100.0), ("judge", "overall", 1.0))


def published_rows() -> list[dict[str, Any]]:
    """The paper's leaderboard rows (PROTOCOL §5.1), labelled ``source="published"``."""
    text = resources.files("scigenbench.metrics").joinpath("published/leaderboard.csv").read_text()
    rows = []
    for rec in csv.DictReader(text.splitlines()):
        row = {"run": rec["model"], "source": "published", "protocol": "upstream (paper)", "answerer": "gemini-3-flash-preview (upstream)",
               "R_inv": float(rec["R_inv"]), "PSNR": float(rec["PSNR"]), "SSIM": float(rec["SSIM"]),
               "CLIP": float(rec["CLIP"]), "FID": float(rec["FID"])}
        row.update({short: float(rec[short]) for short in JUDGE_DIMENSIONS.values()})
        rows.append(row)
    return rows


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """A run's name, info and evaluation summary (``scores/summary.json``)."""
    run_dir = Path(run_dir)
    summary_path = run_dir / RESULTS_DIR / "summary.json"
    if not summary_path.exists():
        raise FileNotFoundError(f"{run_dir} has no scores/summary.json; run `scigenbench evaluate --run {run_dir}` first")
    info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
    summary = json.loads(summary_path.read_text())
    return {"name": run_dir.name, "info": info, "metrics": summary["metrics"], "updated": summary.get("updated"),
            "agreement": summary.get("agreement") or {}, "judges": summary.get("judges") or {}}


def _pct(stat: dict[str, Any] | None, scale: float = 100.0, which: str = "strict") -> float | None:
    if not stat or stat.get(which) is None:
        return None
    return round(stat[which] * scale, 2)


def compat_switches(run: dict[str, Any]) -> list[str]:
    """Upstream-compatibility switches active in any metric of an evaluated run (PROTOCOL §7). The always-present
    ``pooled_upstream`` block is a separately named number, not a switch of the run's metrics."""
    found = set()
    for s in run["metrics"].values():
        if isinstance(s, dict) and "coverage" in s:
            found.update(s.get("switches") or [])
            protocols = s.get("protocol")
            if protocols == "upstream-compat" or (isinstance(protocols, list) and "upstream-compat" in protocols):
                found.add("upstream-compat")
    return sorted(found - {"upstream-compat"}) or (["upstream-compat"] if found else [])


def partial_scope(run: dict[str, Any]) -> dict[str, Any] | None:
    """The evaluated scope of a partial run (a selection of the split, PROTOCOL §4), or ``None`` for a full run."""
    for s in run["metrics"].values():
        scope = s.get("scope") if isinstance(s, dict) else None
        if scope and scope.get("partial"):
            return scope
    return None


def run_label(run: dict[str, Any]) -> str:
    """The run's name, marked when any compatibility switch was on, so such rows never pass for default ones, and
    when it was evaluated on a selection of the split (a partial run)."""
    switches = compat_switches(run)
    label = f"{run['name']} [upstream-compat: {', '.join(switches)}]" if switches else run["name"]
    scope = partial_scope(run)
    if scope:
        label += f" [partial: {scope['n_items']:,} of {scope['n_split']:,} {scope.get('dataset') or ''} items]"
    return label


def run_row(run: dict[str, Any], which: str = "strict") -> dict[str, Any]:
    """One leaderboard row for an evaluated run (``which`` = ``strict`` or ``lenient``)."""
    m = run["metrics"]
    models = sorted({model for s in m.values() if isinstance(s, dict) for model in s.get("judge_models", [])})
    proxy = any(s.get("proxy") for s in m.values() if isinstance(s, dict))
    switches = compat_switches(run)
    row: dict[str, Any] = {"run": run_label(run), "source": "this run (ocr proxy)" if proxy else "this run",
                           "protocol": ("upstream-compat: " + ", ".join(switches)) if switches else "default",
                           "answerer": ", ".join(models) + (" [PROXY]" if proxy else "")}
    if "rinv" in m:
        row["R_inv"] = _pct(m["rinv"]["rinv_acc"], which=which)
    if "quiz" in m:
        row["quiz_acc"] = _pct(m["quiz"]["quiz_acc_micro"], which=which)
        row["perfect_img"] = _pct(m["quiz"]["perfect_image_rate"], which=which)
        row["guess_baseline"] = _pct({"v": m["quiz"].get("guessing_baseline", {}).get("best_micro")}, which="v")
    if "quiz_blind" in m:
        row["blind_quiz_acc"] = _pct(m["quiz_blind"]["quiz_acc_micro"], which=which)
    if "judge" in m:
        for key, short in JUDGE_DIMENSIONS.items():
            row[short] = _pct(m["judge"][key], 1.0, which)
        row["judge_overall"] = _pct(m["judge"]["overall"], 1.0, which)
    if "fidelity" in m:
        f = m["fidelity"]
        row.update(PSNR=_round(f["psnr"]["mean"]), SSIM=_round(f["ssim"]["mean"], 3),
                   CLIP=_round((f.get("clip_score") or {}).get("mean")), FID=_round(f.get("fid")))
    cov = [f"{name} {s['coverage']['n_scored']}/{s['coverage']['n_items']}" for name, s in m.items()
           if isinstance(s, dict) and "coverage" in s]
    row["coverage"] = "; ".join(cov)
    return row


def _round(value: Any, digits: int = 2) -> Any:
    return None if value is None else round(float(value), digits)


def breakdown_rows(runs: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Long-form rows (run, group, metric, strict, lenient, n_scored, n_items) for ``by_domain``/``by_image_type``."""
    rows = []
    for run in runs:
        for metric, stat_key, scale in BREAKDOWN_METRICS:
            summary = run["metrics"].get(metric)
            if not summary:
                continue
            for group, s in (summary.get(key) or {}).items():
                rows.append({"run": run_label(run), "group": group, "metric": f"{metric}:{stat_key}",
                             "strict": _pct(s[stat_key], scale), "lenient": _pct(s[stat_key], scale, "lenient"),
                             "n_scored": s["coverage"]["n_scored"], "n_items": s["coverage"]["n_items"],
                             "proxy": bool(summary.get("proxy"))})
    return rows


# --- writers --------------------------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def to_markdown(rows: list[dict[str, Any]], columns: list[str]) -> str:
    columns = [c for c in columns if any(r.get(c) not in (None, "") for r in rows)]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)).replace("|", "/") for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def to_html(rows: list[dict[str, Any]], columns: list[str], title: str) -> str:
    columns = [c for c in columns if any(r.get(c) not in (None, "") for r in rows)]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr class=\"{}\">".format(html.escape(str(r.get("source", "")).split(" ")[0]))
        + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title><style>"
            "table{border-collapse:collapse;font-family:sans-serif;font-size:13px}td,th{border:1px solid #ccc;"
            "padding:3px 6px}tr.published{color:#777;font-style:italic}</style></head><body>"
            f"<h2>{html.escape(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            "</body></html>")


def to_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def pivot(rows: list[dict[str, Any]], *, by_run: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """Wide table of the first breakdown metric: one row per run (``by_run``) or per group, cells "strict (n/N)"."""
    metric = rows[0]["metric"]
    rows = [r for r in rows if r["metric"] == metric]
    runs = list(dict.fromkeys(r["run"] for r in rows))
    groups = sorted({r["group"] for r in rows})
    cell = {(r["run"], r["group"]): f"{_cell(r['strict'])} ({r['n_scored']}/{r['n_items']})" for r in rows}
    if by_run:
        return ([{"run": run, "metric": metric, **{g: cell.get((run, g)) for g in groups}} for run in runs],
                ["run", "metric", *groups])
    return ([{"group": g, "metric": metric, **{run: cell.get((run, g)) for run in runs}} for g in groups],
            ["group", "metric", *runs])


def _write_table(out_dir: Path, stem: str, rows: list[dict[str, Any]], columns: list[str], title: str,
                 display: tuple[list[dict[str, Any]], list[str]] | None = None) -> str:
    """CSV of ``rows``; Markdown and HTML of ``display`` (a pivoted view) or of ``rows``."""
    to_csv(out_dir / f"{stem}.csv", rows, columns)
    if display is not None:
        rows, columns = display
    (out_dir / f"{stem}.html").write_text(to_html(rows, columns, title), encoding="utf-8")
    markdown = to_markdown(rows, columns)
    (out_dir / f"{stem}.md").write_text(f"## {title}\n\n{markdown}\n", encoding="utf-8")
    return markdown


# --- plots ------------------------------------------------------------------------------------------------------

def plot_domains(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Grouped bars: the breakdown metric (strict) per domain, one bar per run."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metric = rows[0]["metric"]
    rows = [r for r in rows if r["metric"] == metric]
    runs = list(dict.fromkeys(r["run"] for r in rows))
    groups = sorted({r["group"] for r in rows})
    width = 0.8 / max(1, len(runs))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) + 2), 4))
    for i, run in enumerate(runs):
        values = {r["group"]: r["strict"] for r in rows if r["run"] == run}
        xs = np.arange(len(groups)) + i * width
        ax.bar(xs, [values.get(g) or 0 for g in groups], width, label=run)
    ax.set_xticks(np.arange(len(groups)) + width * (len(runs) - 1) / 2)
    ax.set_xticklabels(groups, rotation=20, ha="right")
    proxy = " (OCR proxy)" if any(r["proxy"] for r in rows) else ""
    ax.set_ylabel(f"{metric} strict{proxy}")
    ax.set_title(f"Per-domain {metric}{proxy}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_radar(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Radar of the five judge dimensions (0–2) for every row that has them (published rows dashed)."""
    dims = list(JUDGE_DIMENSIONS.values())
    rows = [r for r in rows if all(r.get(d) is not None for d in dims)]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    angles = np.linspace(0, 2 * np.pi, len(dims), endpoint=False).tolist()
    fig, ax = plt.subplots(figsize=(9, 6), subplot_kw={"polar": True})
    for r in rows:
        values = [r[d] for d in dims]
        published = r["source"] == "published"
        ax.plot(angles + angles[:1], values + values[:1], "--" if published else "-",
                linewidth=0.9 if published else 2.2, alpha=0.6 if published else 1.0,
                label=f"{r['run']} ({r['source']})")
    ax.set_xticks(angles)
    ax.set_xticklabels(dims)
    ax.set_ylim(0, 2)
    ax.set_yticks([0.5, 1.0, 1.5, 2.0])
    ax.set_title("Judge dimensions (0–2)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.12, 0.5))
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def build_leaderboard(run_dirs: list[str | Path], out_dir: str | Path, *, include_published: bool = True,
                      title: str = "SciGenBench leaderboard",
                      sections: tuple[str, ...] = ("overall", "by_domain", "by_image_type", "agreement")) -> str:
    """Write the leaderboard for ``run_dirs`` into ``out_dir`` and return it as Markdown.

    Files: ``overall``, ``by_domain`` and ``by_image_type`` as ``.md``/``.html`` (breakdowns pivoted: strict value
    with scored/items per cell) and ``.csv`` (long form with strict and lenient), ``overall_lenient.csv``,
    ``leaderboard.md`` (everything), ``by_domain.png`` and ``judge_radar.png`` (when judge numbers exist); for runs
    evaluated by a judge panel, the ``agreement`` section with ``agreement.csv`` and ``rank_stability.json``.
    ``sections`` selects what the returned Markdown holds (the files always hold everything).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [load_run(d) for d in run_dirs]
    # ranking rule: a partial run (a selection of the split) is never ranked against full runs: own table
    partial_runs = [r for r in runs if partial_scope(r)]
    runs = [r for r in runs if not partial_scope(r)]
    rows = [run_row(r) for r in runs]
    published = published_rows() if include_published else []
    to_csv(out_dir / "overall_lenient.csv", [run_row(r, "lenient") for r in runs], OVERALL_COLUMNS)
    selected = sections
    sections = [f"# {title}", "",
                "Strict numbers: missing images count 0 (PROTOCOL §4). R_inv, quiz accuracies in %; judge 0–2. "
                "Rows labelled `published` are the paper's (another protocol, judge and parser; their R_inv recipe is "
                "unpublished, PROTOCOL §2.4; reference only). Rows marked "
                "`[PROXY]` were answered by the OCR proxy, not a model: they are not judge numbers.", ""]
    parts = {"overall": ["## Overall", "", _write_table(out_dir, "overall", rows + published, OVERALL_COLUMNS,
                                                         f"{title}: overall"), ""]}
    if partial_runs:
        parts["overall"] += ["## Partial runs (evaluated on a selection of the split; not ranked with full runs)", "",
                             _write_table(out_dir, "partial", [run_row(r) for r in partial_runs], OVERALL_COLUMNS,
                                          f"{title}: partial runs"), ""]
    breakdown_cols = ["run", "group", "metric", "strict", "lenient", "n_scored", "n_items", "proxy"]
    for key, label in (("by_domain", "Per domain"), ("by_image_type", "Per image type")):
        brows = breakdown_rows(runs, key)
        table = (_write_table(out_dir, key, brows, breakdown_cols, f"{title}: {label}",
                              display=pivot(brows, by_run=key == "by_domain"))
                 if brows else "(no breakdown available)")
        parts[key] = [f"## {label} (strict, scored/items)", "", table, ""]
        if key == "by_domain":
            plot_domains(brows, out_dir / "by_domain.png")
    plot_radar(rows + published, out_dir / "judge_radar.png")
    parts["agreement"] = agreement_markdown(runs, out_dir)
    full = "\n".join(sections + [line for key in parts for line in parts[key]])
    (out_dir / "leaderboard.md").write_text(full + "\n", encoding="utf-8")
    return "\n".join(sections + [line for key in selected for line in parts.get(key, [])])


# --- judge agreement and rank stability (judge panels) ----------------------------------------------------------

#: metric -> (statistic key, scale) of the headline number used to rank runs per judge
RANK_METRICS = {"quiz": ("quiz_acc_micro", 100.0), "rinv": ("rinv_acc", 100.0), "judge": ("overall", 1.0)}


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def _pairs_text(pairs: dict[str, Any] | None) -> str:
    return "; ".join(f"{k}: {_num(v)}" for k, v in (pairs or {}).items()) or "–"


def agreement_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run and metric evaluated by a judge panel: alpha, pairwise kappa and Spearman."""
    rows = []
    for run in runs:
        for metric, block in (run.get("agreement") or {}).items():
            rows.append({"run": run_label(run), "metric": metric, "judges": ", ".join(block.get("judges", [])),
                         "level": block.get("level"), "krippendorff_alpha": block.get("krippendorff_alpha"),
                         "cohen_kappa": _pairs_text(block.get("cohen_kappa")),
                         "spearman": _pairs_text(block.get("spearman")), "units": block.get("n_pairable_units")})
    return rows


def rank_stability_report(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per metric: would the order of the full runs change with the judge? Uses the judges that scored every run."""
    from scigenbench.metrics.agreement import rank_stability

    out = {}
    runs = [r for r in runs if partial_scope(r) is None]  # partial runs are never ranked against full runs
    for metric, (key, scale) in RANK_METRICS.items():
        per_run = {run_label(r): {j: s[metric] for j, s in (r.get("judges") or {}).items() if metric in s}
                   for r in runs}
        common = set.intersection(*(set(v) for v in per_run.values())) if per_run else set()
        if len(per_run) < 2 or len(common) < 2:
            continue
        scores = {j: {run: _pct(per_run[run][j].get(key), scale) for run in per_run} for j in sorted(common)}
        out[metric] = {"statistic": f"{key} strict", **rank_stability(scores), "scores": scores}
    return out


def agreement_markdown(runs: list[dict[str, Any]], out_dir: Path) -> list[str]:
    """The leaderboard section on judge agreement and rank stability (files: agreement.csv, rank_stability.json)."""
    rows = agreement_rows(runs)
    stability = rank_stability_report(runs)
    if not rows and not stability:
        return []
    lines = ["## Judge agreement (judge panels)", ""]
    if rows:
        columns = ["run", "metric", "judges", "level", "krippendorff_alpha", "cohen_kappa", "spearman", "units"]
        to_csv(out_dir / "agreement.csv", rows, columns)
        lines += ["Krippendorff's alpha (nominal for quiz letters and R_inv verdicts, ordinal for the 0–2 judge "
                  "dimensions), pairwise Cohen's kappa and Spearman correlation of per-item scores "
                  "(PROTOCOL §4.1).", "", to_markdown(rows, columns), ""]
    if stability:
        (out_dir / "rank_stability.json").write_text(json.dumps(stability, indent=1), encoding="utf-8")
        lines += ["### Rank stability: would the order of the runs change with the judge?", "",
                  "| metric | judges | stable | same top | Kendall tau | flips |", "|---|---|---|---|---|---|"]
        for metric, s in stability.items():
            flips = "; ".join(f"{a} / {b}: " + ", ".join(f"{j} → {w}" for j, w in f["ahead"].items())
                              for f in s["flips"] for a, b in [f["runs"]]) or "none"
            lines.append(f"| {metric} | {', '.join(s['judges'])} | {'yes' if s['stable'] else 'NO'} | "
                         f"{'yes' if s['same_top'] else 'no'} | {_pairs_text(s['kendall_tau'])} | "
                         f"{flips.replace('|', '/')} |")
        lines.append("")
    return lines
