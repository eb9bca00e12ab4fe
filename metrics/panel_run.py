"""Evaluate a run with a judge panel and/or K samples per item (``evaluate_run(judge=[A, B], samples=K)``).

Each (judge, sample) is one *pass* of the ordinary evaluation (:func:`~scigenbench.metrics.evaluation.evaluate_run`
with the judge wrapped by :class:`~scigenbench.metrics.panel.SampledBackend`): its records are stored, resumed and
cached like any single-judge evaluation, under keys that name the judge and, for samples ≥ 1 or a set
temperature, the sample and temperature (:func:`pass_key`). This module then combines the passes
(:mod:`scigenbench.metrics.panel`) and writes:

- ``scores/<metric>.parquet``: the panel's records (one judge: that judge's sample-combined records);
- ``scores/judges/<judge>/<metric>.parquet``: each judge's sample-combined records (panels only);
- ``scores/summary.json``: ``metrics`` (panel / combined summaries, with ``samples`` and ``panel``), ``judges``
  (each judge's summaries) and ``agreement`` (per metric, panels only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scigenbench.generators.backends.limits import CallLimits
from scigenbench.metrics import aggregate
from scigenbench.metrics.panel import (
    MODEL_METRICS, SampledBackend, agreement_for, combine_samples, panel_record, slug,
)
from scigenbench.metrics.records import ItemResult, model_id

PANEL_RULE = "mean of judge dimensions; majority of quiz letters and R_inv verdicts (ties unscored)"


def pass_key(key: str, sample: int = 0, temperature: float | None = None) -> str:
    """A result key extended by the sample index (≥ 1) and the temperature (when set); unchanged otherwise, so
    single-sample results keep their keys."""
    extra: dict[str, Any] = {}
    if sample:
        extra["sample"] = sample
    if temperature is not None:
        extra["temperature"] = temperature
    return json.dumps([json.loads(key), extra], separators=(",", ":")) if extra else key


def _judge_list(judge: Any) -> list[Any]:
    judges = list(judge) if isinstance(judge, (list, tuple)) else [judge]
    if not judges:
        raise ValueError("give at least one judge (--judge SPEC)")
    return judges


def is_panel_call(judge: Any, samples: int, temperature: float | None) -> bool:
    """Whether ``evaluate_run`` needs this module: several judges, several samples or a set temperature."""
    if samples < 1:
        raise ValueError(f"--samples must be >= 1, got {samples}")
    return len(_judge_list(judge)) > 1 or samples > 1 or temperature is not None


def evaluate_panel(run_dir: str | Path, metrics: list[str], judge: Any, *, samples: int = 1,
                   temperature: float | None = None, backend_options: dict[str, Any] | None = None,
                   dry_run: bool = False, n_boot: int = 1000, **kwargs: Any) -> Any:
    """Run every (judge, sample) pass of the evaluation and combine them; returns an ``EvalReport`` whose
    ``records``/``summaries`` are the panel's, with ``judge_summaries`` and ``agreement`` added."""
    from scigenbench.metrics.evaluation import (
        EvalReport, _build, evaluate_run, load_problems, normalise_metrics, open_run,
    )

    metrics = normalise_metrics(metrics, blind=kwargs.pop("blind", False))
    if kwargs.get("problems") is None:
        dataset = kwargs.pop("dataset", None) or open_run(run_dir).dataset
        if not dataset:
            raise ValueError(f"{run_dir}/run.json names no dataset; pass --dataset mini|scigen|seephys")
        kwargs["problems"] = load_problems(dataset, kwargs.pop("data_dir", None))
    options = dict(backend_options or {})
    # one request limit for the whole panel: every pass, judge and grader draws from it (--concurrency, --rpm)
    options["limits"] = options.get("limits") or CallLimits(
        kwargs.get("concurrency", 16), options.pop("rpm", None), bool(options.pop("adaptive", False)))
    options.pop("concurrency", None)
    judges = _judge_list(judge)
    backends = [_build(spec, options, dry_run) for spec in judges]
    ids = [model_id(b) if b is not None else str(s) for b, s in zip(backends, judges)]
    if len(set(ids)) != len(ids):
        raise ValueError(f"each judge of a panel must be a different model; got {ids}")
    report = EvalReport(Path(run_dir), metrics, dry_run=dry_run)
    model_metrics = [m for m in metrics if m in MODEL_METRICS]
    runs = []
    if len(model_metrics) < len(metrics):  # fidelity calls no model: evaluated once, the ordinary way
        runs.append(evaluate_run(run_dir, [m for m in metrics if m not in MODEL_METRICS], judges[0],
                                 backend_options=options, dry_run=dry_run, n_boot=n_boot, **kwargs))
    passes: dict[tuple[str, int], Any] = {}
    for judge_id, backend in zip(ids, backends):
        for k in range(samples):
            answerer = SampledBackend(backend, k, temperature) if backend is not None else judge_id
            passes[(judge_id, k)] = evaluate_run(
                run_dir, model_metrics, answerer, backend_options=options, dry_run=dry_run, n_boot=n_boot,
                graders=_graders(kwargs, backend, temperature), _pass={"sample": k, "temperature": temperature},
                **{k_: v for k_, v in kwargs.items() if k_ != "graders"})
    report.passes = len(passes)
    _sum_counts(report, [*runs, *passes.values()])
    report.cost_usd = sum(float((b.stats() if hasattr(b, "stats") else {}).get("cost_usd", 0) or 0)
                          for b in backends if b is not None) + sum(r.cost_usd for r in runs)
    if dry_run:
        return report
    for r in runs:
        report.records.update(r.records)
        report.summaries.update(r.summaries)
    _combine(report, passes, ids, model_metrics, samples, temperature, n_boot)
    report.unknown_ids = next(iter(passes.values())).unknown_ids
    _write(report, Path(run_dir), kwargs["problems"], model_metrics)
    return report


def _graders(kwargs: dict[str, Any], backend: Any, temperature: float | None) -> dict[str, Any] | None:
    """The passes' graders: the user's; with a set temperature and no grader, R_inv verdicts come from the judge
    itself at its default temperature (the sampled answerer is not its own grader)."""
    graders = dict(kwargs.get("graders") or {})
    if temperature is not None and kwargs.get("grader") is None and graders.get("rinv") is None and backend is not None:
        graders["rinv"] = backend
    return graders or None


def _sum_counts(report: Any, passes) -> None:
    for p in passes:
        for field in ("calls", "evaluated", "reused"):
            total = getattr(report, field)
            for metric, n in getattr(p, field).items():
                total[metric] = total.get(metric, 0) + n
        for key, n in p.tokens.items():
            report.tokens[key] = report.tokens.get(key, 0) + n
        report.seconds += p.seconds
        for metric, plan in p.planned_calls.items():
            into = report.planned_calls.setdefault(metric, {k: 0 for k in plan})
            for k, n in plan.items():
                into[k] = into.get(k, 0) + n


def _combine(report: Any, passes: dict[tuple[str, int], Any], ids: list[str], metrics: list[str], samples: int,
             temperature: float | None, n_boot: int) -> None:
    panel = len(ids) > 1
    report.judge_summaries = {j: {} for j in ids} if panel else {}
    report.judge_records = {j: {} for j in ids} if panel else {}
    report.agreement = {}
    for metric in metrics:
        n_items = len(passes[(ids[0], 0)].records[metric])
        per_judge = {j: [combine_samples(metric, [passes[(j, k)].records[metric][i] for k in range(samples)])
                         for i in range(n_items)] for j in ids}
        if panel:
            records = [combine_samples(metric, [panel_record(metric, {j: passes[(j, k)].records[metric][i]
                                                                      for j in ids}) for k in range(samples)])
                       for i in range(n_items)]
            for j in ids:
                report.judge_records[j][metric] = per_judge[j]
                report.judge_summaries[j][metric] = _summary(per_judge[j], metric, n_boot, samples, temperature)
            report.agreement[metric] = agreement_for(metric, per_judge)
        else:
            records = per_judge[ids[0]]
        report.records[metric] = records
        summary = _summary(records, metric, n_boot, samples, temperature)
        if panel:
            summary["panel"] = {"judges": ids, "rule": PANEL_RULE}
        report.summaries[metric] = summary


def _summary(records: list[ItemResult], metric: str, n_boot: int, samples: int,
             temperature: float | None) -> dict[str, Any]:
    summary = aggregate.summarize(records, metric, n_boot=n_boot)
    summary.update(samples=samples, temperature=temperature)
    spreads = [r.details["spread"]["sd"] for r in records if r.details.get("spread", {}).get("sd") is not None]
    if samples > 1 and spreads:
        summary["sample_sd_mean"] = sum(spreads) / len(spreads)  # mean per-item spread of the item scores
    return summary


def _write(report: Any, run_dir: Path, problems: list[dict[str, Any]], model_metrics: list[str]) -> None:
    """Parquet snapshots and summary.json of the model metrics, plus per-judge files and agreement."""
    from scigenbench.metrics.evaluation import _write_outputs
    from scigenbench.metrics.store import RESULTS_DIR, write_parquet

    eval_dir = run_dir / RESULTS_DIR
    written = report.metrics
    report.metrics = model_metrics  # fidelity was written by its own evaluation
    try:
        _write_outputs(report, eval_dir, problems)
    finally:
        report.metrics = written
    for judge_id, per_metric in report.judge_records.items():
        folder = eval_dir / "judges" / slug(judge_id)
        folder.mkdir(parents=True, exist_ok=True)
        for metric, records in per_metric.items():
            report.files.append(write_parquet(folder / f"{metric}.parquet", records))
    summary_path = eval_dir / "summary.json"
    summary = json.loads(summary_path.read_text())
    for judge_id, per_metric in report.judge_summaries.items():
        summary.setdefault("judges", {}).setdefault(judge_id, {}).update(per_metric)
    summary.setdefault("agreement", {}).update(report.agreement)
    tmp = summary_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=1, default=str))
    tmp.replace(summary_path)
