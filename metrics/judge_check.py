"""``judge-check``: does a judge notice what is wrong? Pairwise discrimination on controlled corruptions.

The mini set's reference figures and their corruptions (:mod:`scigenbench.metrics.corruptions`, made by editing
the figures' programs) are scored with the judge, quiz and R_inv metrics. For each corruption kind and metric the
report gives how often the reference beats its corruption — **pairwise discrimination**: 1 per pair where the
reference scores higher, ½ per tie, 0 where the corruption scores higher; 0.5 is chance — with a 95 % bootstrap
CI over pairs, and, for the judge metric, how much each rubric dimension drops. Offline, the OCR proxy answers the
quizzes (``judge`` and ``rinv`` need a real model and are skipped with the reason).

Writes ``OUT/judge_check.json`` (``{"judge", "kinds": {kind: {metric: {"discrimination", "ci95", "n"}}}, ...}``),
``OUT/report.md``, ``OUT/scores.jsonl`` (every scored image) and ``OUT/corruption_set/`` (the rendered set as a
dataset).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from scigenbench.generators.backends.limits import CallLimits
from scigenbench.metrics.corruptions import (
    CORRUPTION_SET_VERSION, KIND_DESCRIPTIONS, KINDS, RenderedSet, build_corruptions, export_set, render_set,
)
from scigenbench.metrics.parsing import JUDGE_DIMENSIONS
from scigenbench.metrics.records import SCORED, ItemResult, model_id

METRICS = ("judge", "quiz", "rinv")
CHANCE = 0.5
REFERENCE = "reference"


def pair_outcome(reference: float, corrupted: float) -> float:
    """1 when the reference scores higher, ½ for a tie, 0 when the corruption scores higher."""
    return 1.0 if reference > corrupted else 0.5 if reference == corrupted else 0.0


def bootstrap_mean(values: list[float], n_boot: int = 1000, seed: int = 0) -> list[float] | None:
    """95 % percentile CI of the mean under resampling of ``values`` (``None`` with fewer than 2)."""
    if len(values) < 2 or n_boot <= 0:
        return None
    data = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(data), size=(n_boot, len(data)))
    lo, hi = np.percentile(data[idx].mean(axis=1), [2.5, 97.5])
    return [float(lo), float(hi)]


def discrimination(pairs: list[tuple[float, float]], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """``{"discrimination", "ci95", "n"}`` over (reference score, corrupted score) pairs."""
    outcomes = [pair_outcome(r, c) for r, c in pairs]
    return {"discrimination": float(np.mean(outcomes)) if outcomes else None,
            "ci95": bootstrap_mean(outcomes, n_boot, seed), "n": len(outcomes)}


def dimension_moves(pairs: list[tuple[dict[str, int], dict[str, int]]], n_boot: int = 1000,
                    seed: int = 0) -> dict[str, Any]:
    """Per judge dimension: mean drop (reference − corruption) with its CI; ``moves`` when the CI is above 0."""
    out = {}
    for dim, short in JUDGE_DIMENSIONS.items():
        drops = [float(r[dim] - c[dim]) for r, c in pairs]
        ci = bootstrap_mean(drops, n_boot, seed)
        out[dim] = {"short": short, "mean_drop": float(np.mean(drops)) if drops else None, "ci95": ci,
                    "n": len(drops), "moves": bool(ci is not None and ci[0] > 0)}
    return out


def _plan_metrics(judge_spec: Any, metrics: Iterable[str] | None) -> tuple[list[str], dict[str, str]]:
    from scigenbench.metrics.specs import is_proxy

    wanted = list(metrics or METRICS)
    unknown = [m for m in wanted if m not in METRICS]
    if unknown:
        raise ValueError(f"judge-check scores with {', '.join(METRICS)}; unknown metric(s) {unknown}")
    if not is_proxy(judge_spec):
        return wanted, {}
    skipped = {m: "the OCR proxy answers multiple-choice quizzes only; give a real judge model (--judge SPEC)"
               for m in wanted if m != "quiz"}
    return [m for m in wanted if m == "quiz"], skipped


def score_set(rendered: RenderedSet, problems: dict[str, dict[str, Any]], metrics: list[str], judge: Any,
              grader: Any, image_dir: Path, *, concurrency: int = 16) -> dict[tuple[str, str], ItemResult]:
    """Score every reference and corrupted image (PNG files in ``image_dir``, named ``<image id>.png``) with every
    metric through the evaluation runner: ``{(image id, metric): record}``. Each image is one runner item, so
    all requests share the backends' limits and every image is encoded once."""
    from scigenbench.metrics import _calls
    from scigenbench.metrics.runner import EvalContext, ItemTask, ItemWork, run_items

    images = {f"{item_id}__{REFERENCE}": item_id for item_id in rendered.references}
    images.update({c.id: c.item_id for c, _ in rendered.corruptions})
    work = [ItemWork(problems[item_id], image_dir / f"{image_id}.png", "image not rendered",
                     [ItemTask(metric, image_id) for metric in metrics]) for image_id, item_id in images.items()]
    ctx = EvalContext(answerers={"judge": judge}, default="judge",
                      graders={"quiz": grader, "rinv": grader} if grader is not None else {})
    results: dict[tuple[str, str], ItemResult] = {}

    def keep(task: ItemTask, record: ItemResult) -> None:
        results[(task.key, task.metric)] = record

    _calls.run_sync(run_items(ctx, work, None, items_in_flight=max(2, concurrency), on_record=keep))
    return results


def summarise(rendered: RenderedSet, results: dict[tuple[str, str], ItemResult], metrics: list[str], *,
              n_boot: int = 1000) -> dict[str, Any]:
    """Per kind and metric: discrimination (+CI, n); per kind: judge dimension moves and quiz flips."""
    kinds: dict[str, dict[str, Any]] = {}
    dims: dict[str, Any] = {}
    flips: dict[str, Any] = {}
    for kind in KINDS:
        members = [c for c, _ in rendered.corruptions if c.kind == kind]
        if not members:
            continue
        kinds[kind] = {}
        for metric in metrics:
            pairs = _pairs(members, results, metric)
            kinds[kind][metric] = discrimination([(r.score, c.score) for r, c in pairs], n_boot)
            if metric == "judge":
                dims[kind] = dimension_moves([(r.details["dimensions"], c.details["dimensions"]) for r, c in pairs],
                                             n_boot)
            if metric == "quiz":
                flips[kind] = _quiz_flips(members, pairs)
    return {"kinds": kinds, "judge_dimensions": dims, "quiz_flips": flips}


def _pairs(members, results, metric) -> list[tuple[ItemResult, ItemResult]]:
    out = []
    for c in members:
        ref = results.get((f"{c.item_id}__{REFERENCE}", metric))
        cor = results.get((c.id, metric))
        if ref is not None and cor is not None and ref.state == SCORED and cor.state == SCORED:
            out.append((ref, cor))
    return out


def _quiz_flips(members, pairs) -> dict[str, int]:
    """Quizzes answered right on the reference and wrong on the corruption (and the reverse)."""
    lost = gained = 0
    for ref, cor in pairs:
        before = {q["index"]: q.get("correct") for q in ref.details.get("quizzes", [])}
        for q in cor.details.get("quizzes", []):
            if before.get(q["index"]) is True and q.get("correct") is False:
                lost += 1
            elif before.get(q["index"]) is False and q.get("correct") is True:
                gained += 1
    return {"right_to_wrong": lost, "wrong_to_right": gained, "pairs": len(pairs)}


def run_judge_check(judge: Any, out_dir: str | Path, *, grader: Any = None, metrics: Iterable[str] | None = None,
                    kinds: Iterable[str] | None = None, items: Iterable[str] | None = None, n_boot: int = 1000,
                    concurrency: int = 16, render_workers: int = 2,
                    backend_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build, render and score the corruption set with ``judge``; write and return the report.

    Args:
        judge: backend spec (or backend) of the judge / answering model; ``ocr`` for the offline OCR proxy.
        out_dir: output folder (``judge_check.json``, ``report.md``, ``scores.jsonl``, ``corruption_set/``).
        grader: backend spec of the grader (quiz letters when ambiguous, R_inv verdicts; R_inv defaults to the judge).
        metrics: subset of :data:`METRICS` (default: all the judge can answer).
        kinds: subset of the corruption kinds (default: all).
        items: mini item ids to use (default: all).
        n_boot: bootstrap resamples for the CIs.
        concurrency: model requests in flight (shared by the judge and the grader).
        render_workers: sandbox workers for rendering.
        backend_options: passed to ``get_backend`` (``cache``, ``timeout``, ...).
    """
    from scigenbench.dataset import load_mini_problems
    from scigenbench.metrics.specs import resolve_backend

    started = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics, skipped = _plan_metrics(judge, metrics)
    options = {"limits": CallLimits(concurrency), **(backend_options or {})}  # requests in flight over the check
    judge_backend = resolve_backend(judge, **options)
    grader_backend = resolve_backend(grader, **options) if grader is not None else None
    problems = {p["id"]: p for p in load_mini_problems()}
    rendered = render_set(build_corruptions(list(problems.values()), kinds, items), workers=render_workers)
    if not rendered.corruptions:
        raise ValueError("no corruption rendered (see the dropped list); check the sandbox with `scigenbench doctor`")
    dataset_dir = export_set(rendered, out / "corruption_set")
    results = score_set(rendered, problems, metrics, judge_backend, grader_backend, dataset_dir / "images",
                        concurrency=concurrency)
    _write_scores(out / "scores.jsonl", results)
    report = {"judge": model_id(judge_backend), "grader": model_id(grader_backend), "set_version": CORRUPTION_SET_VERSION,
              "chance": CHANCE, "metrics": metrics, "skipped_metrics": skipped,
              **summarise(rendered, results, metrics, n_boot=n_boot),
              "references": _reference_scores(rendered, results, metrics),
              "n_corruptions": {k: sum(c.kind == k for c, _ in rendered.corruptions) for k in KINDS},
              "dropped": rendered.dropped, "n_boot": n_boot, "seconds": round(time.time() - started, 1),
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "judge_check.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "report.md").write_text(to_markdown(report), encoding="utf-8")
    return report


def _reference_scores(rendered, results, metrics) -> dict[str, Any]:
    out = {}
    for metric in metrics:
        scored = [r.score for (image_id, m), r in results.items()
                  if m == metric and image_id.endswith(f"__{REFERENCE}") and r.state == SCORED]
        out[metric] = {"mean_score": float(np.mean(scored)) if scored else None, "n_scored": len(scored),
                       "n": len(rendered.references)}
    return out


def _write_scores(path: Path, results: dict[tuple[str, str], ItemResult]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for (image_id, metric), record in results.items():
            fh.write(json.dumps({"image": image_id, **record.to_dict()}, ensure_ascii=False, default=str) + "\n")


def _fmt(block: dict[str, Any] | None) -> str:
    if not block or block.get("discrimination") is None:
        return "–"
    ci = block.get("ci95")
    interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
    return f"{block['discrimination']:.2f}{interval} (n={block['n']})"


def to_markdown(report: dict[str, Any]) -> str:
    """The readable report: discrimination table, judge dimension moves, quiz flips, what was skipped."""
    metrics = report["metrics"]
    lines = [f"# judge-check: {report['judge']}", "",
             f"Corruption set v{report['set_version']}. Pairwise discrimination: how often the reference figure "
             "beats its corruption (ties count ½; **0.50 = chance**), with a 95 % bootstrap CI over pairs.", "",
             "| kind | what changes | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for kind, block in report["kinds"].items():
        lines.append(f"| `{kind}` | {KIND_DESCRIPTIONS[kind]} | "
                     + " | ".join(_fmt(block.get(m)) for m in metrics) + " |")
    lines += ["", "A CI entirely above 0.50 means the metric notices that kind of error. `draw_answer` makes the "
              "quiz and R_inv answers *easier*: a low value there means the metric rewards the leak, which only "
              "the judge rubric can catch."]
    if report.get("judge_dimensions"):
        dims = list(JUDGE_DIMENSIONS.values())
        lines += ["", "## Which judge dimensions move (mean drop reference − corruption, 0–2 scale; * = CI above 0)",
                  "", "| kind | " + " | ".join(dims) + " |", "|---|" + "---|" * len(dims)]
        for kind, per_dim in report["judge_dimensions"].items():
            cells = [("–" if v["mean_drop"] is None else f"{v['mean_drop']:+.2f}{'*' if v['moves'] else ''}")
                     for v in per_dim.values()]
            lines.append(f"| `{kind}` | " + " | ".join(cells) + " |")
    if report.get("quiz_flips"):
        lines += ["", "## Quiz answers changed by the corruption", "", "| kind | right→wrong | wrong→right | pairs |",
                  "|---|---|---|---|"]
        lines += [f"| `{k}` | {v['right_to_wrong']} | {v['wrong_to_right']} | {v['pairs']} |"
                  for k, v in report["quiz_flips"].items()]
    for metric, reason in report.get("skipped_metrics", {}).items():
        lines.append(f"\n{metric}: not computed: {reason}")
    if report.get("dropped"):
        lines.append(f"\n{len(report['dropped'])} corruption(s) left out: "
                     + "; ".join(f"{d['id']}: {d['reason'][:80]}" for d in report["dropped"][:5]))
    return "\n".join(lines) + "\n"
