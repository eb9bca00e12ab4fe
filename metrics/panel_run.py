"""Judge panels and K samples per item inside one evaluation (``evaluate_run(judge=[A, B], samples=K)``).

The evaluation runner schedules one task per (metric, item, judge, sample): every judge at every sample index is
an answerer *slot* (:class:`Slot`) of the run's ``EvalContext``, its judge wrapped by
:class:`~scigenbench.metrics.panel.SampledBackend`; all tasks share the run's request limit and each item's image
is read and encoded once. A slot's records are stored, resumed and cached like any single-judge evaluation, under
keys that name the judge and, for samples ≥ 1 or a set temperature, the sample and temperature
(:func:`pass_key`). This module then combines them (:mod:`scigenbench.metrics.panel`) and writes:

- ``scores/<metric>.parquet``: the panel's records (one judge: that judge's sample-combined records);
- ``scores/judges/<judge>/<metric>.parquet``: each judge's sample-combined records (panels only);
- ``scores/summary.json``: ``metrics`` (panel / combined summaries, with ``samples`` and ``panel``), ``judges``
  (each judge's summaries) and ``agreement`` (per metric, panels only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def judge_list(judge: Any) -> list[Any]:
    """``judge`` as a list (a panel is several)."""
    judges = list(judge) if isinstance(judge, (list, tuple)) else [judge]
    if not judges:
        raise ValueError("give at least one judge (--judge SPEC)")
    return judges


@dataclass
class Slot:
    """One answerer of an evaluation: a judge at one sample index (``key`` names it in ``EvalContext.answerers``;
    ``None`` for the ordinary single-judge evaluation, whose records and keys stay as they always were)."""

    key: str | None
    judge_id: str
    sample: int
    temperature: float | None
    backend: Any


def answerer_slots(judges: list[Any], backends: list[Any], samples: int,
                   temperature: float | None) -> list[Slot]:
    """One slot per judge and sample (sample k ≥ 1 asks with ``seed=k``; see :class:`SampledBackend`)."""
    ids = [model_id(b) if b is not None else str(j) for j, b in zip(judges, backends)]
    if len(set(ids)) != len(ids):
        raise ValueError(f"each judge of a panel must be a different model; got {ids}")
    if len(judges) == 1 and samples == 1 and temperature is None:
        return [Slot(None, ids[0], 0, None, backends[0])]
    return [Slot(f"{judge_id}#{k}", judge_id, k, temperature,
                 SampledBackend(backend, k, temperature) if backend is not None else None)
            for judge_id, backend in zip(ids, backends) for k in range(samples)]


def slot_name(metric: str, key: str | None) -> str:
    """Where a slot's records of ``metric`` are gathered during the run."""
    return metric if key is None else f"{metric}|{key}"


def slots_of(metric: str, slots: list[Slot]) -> list[Slot]:
    """The slots that score ``metric``: every one for a model metric; fidelity (no model) is scored once."""
    if metric in MODEL_METRICS:
        return slots
    return [Slot(None, slots[0].judge_id, 0, None, slots[0].backend)]


def combined_metrics(metrics: list[str], slots: list[Slot]) -> list[str]:
    """The metrics whose records are combined over judges / samples (none for the ordinary evaluation)."""
    if len(slots) == 1 and slots[0].key is None:
        return []
    return [m for m in metrics if m in MODEL_METRICS]


def combine(report: Any, current: dict[str, dict[str, ItemResult]], problems: list[dict[str, Any]],
            metrics: list[str], slots: list[Slot], samples: int, temperature: float | None, n_boot: int) -> None:
    """Fill ``report`` (records, summaries, per-judge summaries and records, agreement) from the slots' records."""
    ids = list(dict.fromkeys(slot.judge_id for slot in slots))
    passes = {(slot.judge_id, slot.sample): {m: [current[slot_name(m, slot.key)][str(p["id"])] for p in problems]
                                            for m in metrics} for slot in slots}
    _combine(report, passes, ids, metrics, samples, temperature, n_boot)


def _combine(report: Any, passes: dict[tuple[str, int], dict[str, list[ItemResult]]], ids: list[str],
             metrics: list[str], samples: int, temperature: float | None, n_boot: int) -> None:
    panel = len(ids) > 1
    report.judge_summaries = {j: {} for j in ids} if panel else {}
    report.judge_records = {j: {} for j in ids} if panel else {}
    report.agreement = {}
    for metric in metrics:
        n_items = len(passes[(ids[0], 0)][metric])
        per_judge = {j: [combine_samples(metric, [passes[(j, k)][metric][i] for k in range(samples)])
                         for i in range(n_items)] for j in ids}
        if panel:
            records = [combine_samples(metric, [panel_record(metric, {j: passes[(j, k)][metric][i]
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


def write_panel_outputs(report: Any, eval_dir: Path) -> None:
    """Each panel judge's records (``scores/judges/<judge>/<metric>.parquet``) and, in ``summary.json``, the
    per-judge summaries (``judges``) and the agreement (``agreement``) of the metrics just evaluated."""
    from scigenbench.metrics.store import write_parquet

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
