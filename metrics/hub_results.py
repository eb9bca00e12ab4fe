"""Results on the Hub: ``.eval_results/*.yaml`` files for evaluated runs (``leaderboard --hub-results DIR``).

For each run, ``DIR/<run>/.eval_results/scigenbench_<config>.yaml`` holds one entry per headline metric, in the
Hub's Eval Results format (https://huggingface.co/docs/hub/eval-results), built and serialised with
``huggingface_hub.EvalResultEntry``. Each entry names the benchmark dataset in ``dataset.id``, its task
(``<config>_<metric>``, see :mod:`scigenbench.dataset.hub_tasks`) in ``dataset.task_id``, the strict value, and
in ``notes`` the judge, protocol, coverage and CI. Upload the folder's content to the model repo of the run's
generator. Numbers from the OCR proxy are not model results and are never written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scigenbench.dataset.hub_tasks import EVALUATION_FRAMEWORK, task_id
from scigenbench.metrics.parsing import JUDGE_DIMENSIONS

#: the benchmark dataset the entries point to (override with ``--hub-dataset``)
DEFAULT_HUB_DATASET = "SciGenBench/SciGenBench"
#: Hub metric -> (summary metric, statistic key, scale to the reported unit)
HUB_VALUES: dict[str, tuple[str, str, float]] = {
    "r_inv": ("rinv", "rinv_acc", 100.0),
    "quiz_acc": ("quiz", "quiz_acc_micro", 100.0),
    "perfect_image_rate": ("quiz", "perfect_image_rate", 100.0),
    "blind_quiz_acc": ("quiz_blind", "quiz_acc_micro", 100.0),
    "judge_overall": ("judge", "overall", 1.0),
    **{f"judge_{key.lower()}": ("judge", key, 1.0) for key in JUDGE_DIMENSIONS},
}


def _require_entries():
    try:
        from huggingface_hub import EvalResultEntry, eval_result_entries_to_yaml
    except ImportError as exc:  # older huggingface_hub
        raise ImportError("writing Hub eval results needs huggingface_hub with EvalResultEntry (pip install -U "
                          f"huggingface_hub): {exc}") from None
    return EvalResultEntry, eval_result_entries_to_yaml


def _notes(summary: dict[str, Any], stat: dict[str, Any], scale: float) -> str:
    cov = summary["coverage"]
    judges = ", ".join(summary.get("judge_models") or []) or "none"
    panel = summary.get("panel")
    who = f"judge panel {', '.join(panel['judges'])} ({panel['rule']})" if panel else f"judge {judges}"
    protocol = summary.get("protocol") or "default"
    switches = summary.get("switches") or []
    ci = stat.get("strict_ci95")
    parts = [who, f"protocol {protocol}" + (f" ({', '.join(switches)})" if switches else ""),
             "strict: missing images count 0",
             f"coverage {cov['n_scored']}/{cov['n_items']} scored, {cov['n_missing']} missing, "
             f"{cov['n_unscored']} unscored"]
    if ci:
        parts.append(f"95% CI [{ci[0] * scale:.2f}, {ci[1] * scale:.2f}]")
    if summary.get("samples", 1) > 1:
        parts.append(f"{summary['samples']} samples per item")
    return "; ".join(parts)


def run_entries(run: dict[str, Any], dataset_id: str = DEFAULT_HUB_DATASET) -> tuple[list[Any], list[str]]:
    """Eval Results entries of one evaluated run (``leaderboard.load_run`` output) and what was left out, why."""
    from scigenbench.metrics.leaderboard import partial_scope

    EvalResultEntry, _ = _require_entries()
    config = run["info"].get("dataset") or "scigen"
    metrics = run["metrics"]
    entries, skipped = [], []
    scope = partial_scope(run)
    if scope:  # a selection of the split is not a benchmark result
        return [], [f"partial run ({scope['n_items']} of {scope['n_split']} items): evaluate it with --over split"]
    date = run.get("updated")
    for hub_metric, (metric, key, scale) in HUB_VALUES.items():
        summary = metrics.get(metric)
        if not summary or not isinstance(summary.get(key), dict) or summary[key].get("strict") is None:
            continue
        if summary.get("proxy"):
            skipped.append(f"{hub_metric}: answered by the OCR proxy, not a model")
            continue
        stat = summary[key]
        entries.append(EvalResultEntry(dataset_id=dataset_id, task_id=task_id(config, hub_metric),
                                       value=round(stat["strict"] * scale, 4), date=date,
                                       notes=_notes(summary, stat, scale)))
    fidelity = metrics.get("fidelity")
    if fidelity and config == "seephys":
        for hub_metric in ("psnr", "ssim"):
            value = (fidelity.get(hub_metric) or {}).get("mean")
            if value is not None:
                entries.append(EvalResultEntry(
                    dataset_id=dataset_id, task_id=task_id(config, hub_metric), value=round(float(value), 4),
                    date=date, notes=f"mean over {fidelity[hub_metric]['n']} available pairs; protocol "
                                     f"{fidelity.get('protocol') or 'default'}"))
    return entries, skipped


def write_hub_results(runs: list[dict[str, Any]], out_dir: str | Path,
                      dataset_id: str = DEFAULT_HUB_DATASET) -> dict[str, Any]:
    """Write ``out_dir/<run>/.eval_results/scigenbench_<config>.yaml`` for every run; returns what was written
    and skipped per run."""
    import yaml

    _, to_yaml = _require_entries()
    out = Path(out_dir)
    written: dict[str, Any] = {}
    for run in runs:
        entries, skipped = run_entries(run, dataset_id)
        config = run["info"].get("dataset") or "scigen"
        path = None
        if entries:
            folder = out / run["name"] / ".eval_results"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{EVALUATION_FRAMEWORK}_{config}.yaml"
            path.write_text(yaml.safe_dump(to_yaml(entries), sort_keys=False, allow_unicode=True, width=120),
                            encoding="utf-8")
        written[run["name"]] = {"file": str(path) if path else None, "entries": len(entries), "skipped": skipped}
    return written
