"""Repeated sampling and judge panels (PROTOCOL §4.1): combine per-sample and per-judge item results.

- :class:`SampledBackend` asks a judge for sample ``k`` of an answer: sample 0 is the ordinary request (so a
  single-sample run keeps its cache), sample ``k ≥ 1`` adds ``seed=k`` (part of the response-cache key, and a
  reproducible draw on servers that honour it); ``temperature`` overrides the judge's decoding temperature.
- :func:`combine_samples`: one judge's K samples of one item → one record (mean score and dimensions, majority
  letters and verdicts, the spread kept in ``details["samples"]`` / ``details["spread"]``).
- :func:`panel_record`: several judges' records of one item (same sample index) → the panel's record: mean of the
  judge dimensions; majority of quiz letters and R_inv verdicts, a tie leaves the quiz (verdict) unscored.
- :func:`agreement_for`: the agreement statistics of one metric between judges (:mod:`.agreement`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from scigenbench.metrics import agreement as ag
from scigenbench.metrics.parsing import JUDGE_DIMENSIONS
from scigenbench.metrics.records import MISSING, NOT_APPLICABLE, SCORED, UNSCORED, ItemResult

#: metrics a panel / repeated sampling applies to (fidelity calls no model)
MODEL_METRICS = ("judge", "quiz", "quiz_blind", "rinv")


class SampledBackend:
    """A chat backend asking for sample ``sample`` (``seed=sample`` when ≥ 1) at ``temperature`` (when given;
    grader prompts keep their own temperature, 0).

    Everything else (``describe``, ``stats``, the model id in results) is the wrapped backend's.
    """

    def __init__(self, inner: Any, sample: int = 0, temperature: float | None = None):
        self.inner, self.sample, self.temperature = inner, int(sample), temperature

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        params = dict(params)
        # the judge answers at the sampling temperature; as its own grader (R_inv by default) it stays at 0
        if self.temperature is not None and "grader" not in str(params.get("prompt_version") or ""):
            params["temperature"] = self.temperature
        if self.sample:
            params["seed"] = self.sample
        return params

    def chat(self, messages: list[dict[str, Any]], **params: Any) -> Any:
        return self.inner.chat(messages, **self._params(params))

    async def achat(self, messages: list[dict[str, Any]], **params: Any) -> Any:
        return await self.inner.achat(messages, **self._params(params))

    def __getattr__(self, name: str) -> Any:  # describe, stats, name, model, ...
        return getattr(self.inner, name)


def slug(judge_id: str) -> str:
    """A file-system-safe name for a judge id (``openai:gpt-4o@http://…`` → ``openai_gpt-4o_http_…``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", judge_id).strip("_")[:120] or "judge"


# --- one item, several samples of one judge -------------------------------------------------------------------

def combine_samples(metric: str, records: list[ItemResult]) -> ItemResult:
    """One record from K samples of one item (K = 1: the record itself).

    Scored when at least one sample is scored; the value is the mean over the scored samples (quiz: mean number
    correct; R_inv: share of samples judged correct, with the majority verdict), and ``details["samples"]`` keeps
    each sample's value for the two-stage bootstrap. Missing / not-applicable items are so in every sample.
    """
    if len(records) == 1:
        return records[0]
    first = records[0]
    if first.state in (MISSING, NOT_APPLICABLE):
        return first
    scored = [r for r in records if r.state == SCORED]
    base = {k: v for k, v in first.to_dict().items() if k not in ("state", "score", "reason", "details", "raw")}
    base.update(calls=sum(r.calls for r in records), raw=scored[-1].raw if scored else first.raw)
    samples = [_sample_entry(metric, k, r) for k, r in enumerate(records)]
    if not scored:
        reasons = "; ".join(f"sample {k}: {r.reason}" for k, r in enumerate(records))
        return ItemResult(state=UNSCORED, reason=f"no sample scored: {reasons}"[:800],
                          details={"samples": samples, "n_samples": len(records)}, **base)
    details: dict[str, Any] = {"samples": samples, "n_samples": len(records), "n_samples_scored": len(scored),
                               "spread": ag.spread([r.score for r in scored])}
    if metric == "judge":
        details["dimensions"] = {d: float(np.mean([r.details["dimensions"][d] for r in scored]))
                                 for d in JUDGE_DIMENSIONS}
    elif metric in ("quiz", "quiz_blind"):
        perfect = [r.details.get("perfect", r.score == 1.0) for r in scored]
        known = [float(bool(v)) for v in perfect if v is not None]
        details.update(n_quizzes=scored[0].details.get("n_quizzes", 0),
                       n_graded=float(np.mean([r.details.get("n_graded", r.details.get("n_quizzes", 0))
                                               for r in scored])),
                       n_correct=float(np.mean([r.details.get("n_correct", 0) for r in scored])),
                       perfect=float(np.mean(known)) if known else None,
                       answer_calls=sum(r.details.get("answer_calls", 0) for r in records),
                       grader_calls=sum(r.details.get("grader_calls", 0) for r in records),
                       quizzes=_majority_quizzes([r.details.get("quizzes", []) for r in scored]))
    elif metric == "rinv":
        details.update(verdict=ag.majority(r.details.get("verdict") for r in scored),
                       method=scored[0].details.get("method"))
    return ItemResult(state=SCORED, score=float(np.mean([r.score for r in scored])), details=details, **base)


def _sample_entry(metric: str, k: int, r: ItemResult) -> dict[str, Any]:
    entry: dict[str, Any] = {"sample": k, "state": r.state, "score": r.score}
    if r.state != SCORED:
        entry["reason"] = r.reason
    elif metric == "judge":
        entry["dimensions"] = r.details.get("dimensions")
    elif metric in ("quiz", "quiz_blind"):
        entry["n_correct"] = r.details.get("n_correct")
        entry["perfect"] = r.details.get("perfect", r.score == 1.0)  # None: unknown (a quiz left unscored)
        entry["letters"] = {q["index"]: q.get("predicted") for q in r.details.get("quizzes", [])
                            if q.get("state") == SCORED}
    elif metric == "rinv":
        entry["verdict"] = r.details.get("verdict")
    return entry


def _majority_quizzes(per_sample: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per quiz: the majority letter over samples (``None`` on a tie) and whether it is correct."""
    out = []
    for quiz in per_sample[0] if per_sample else []:
        if quiz.get("state") != SCORED:
            out.append(quiz)
            continue
        letters = [q.get("predicted") for qs in per_sample for q in qs
                   if q.get("index") == quiz["index"] and q.get("state") == SCORED]
        letter = ag.majority(letters)
        out.append({"index": quiz["index"], "state": SCORED, "predicted": letter,
                    "correct_option": quiz.get("correct_option"), "correct": letter == quiz.get("correct_option"),
                    "sample_letters": letters})
    return out


# --- one item, one sample, several judges -----------------------------------------------------------------------

def panel_record(metric: str, records: dict[str, ItemResult]) -> ItemResult:
    """The panel's record of one item from each judge's record (same sample index).

    judge: mean of each dimension over the judges that scored; quiz: each quiz's majority letter over the judges
    that answered it (a tie leaves that quiz unscored and out of the item's count; all quizzes tied: the item is
    unscored); R_inv: the majority verdict (a tie: unscored). ``judge_model`` lists the judges.
    """
    judges = list(records)
    first = records[judges[0]]
    base = {k: v for k, v in first.to_dict().items()
            if k not in ("state", "score", "reason", "details", "raw", "judge_model", "calls", "usage")}
    base.update(judge_model="panel(" + ", ".join(r.judge_model or j for j, r in records.items()) + ")",
                calls=sum(r.calls for r in records.values()))
    if first.state in (MISSING, NOT_APPLICABLE):
        return ItemResult(state=first.state, reason=first.reason, details={"judges": judges}, **base)
    scored = {j: r for j, r in records.items() if r.state == SCORED}
    if not scored:
        reasons = "; ".join(f"{j}: {r.reason}" for j, r in records.items())
        return ItemResult(state=UNSCORED, reason=f"no judge of the panel scored: {reasons}"[:800],
                          details={"judges": judges}, **base)
    if metric == "judge":
        dims = {d: float(np.mean([r.details["dimensions"][d] for r in scored.values()])) for d in JUDGE_DIMENSIONS}
        return ItemResult(state=SCORED, score=float(np.mean(list(dims.values()))),
                          details={"dimensions": dims, "judges": judges, "n_judges_scored": len(scored)}, **base)
    if metric in ("quiz", "quiz_blind"):
        return _panel_quiz(scored, judges, base)
    if metric == "rinv":
        verdicts = {j: r.details.get("verdict") for j, r in scored.items()}
        verdict = ag.majority(verdicts.values())
        if verdict is None:
            return ItemResult(state=UNSCORED, reason=f"panel tie on the R_inv verdict: {verdicts}"[:300],
                              details={"judges": judges, "verdicts": verdicts}, **base)
        return ItemResult(state=SCORED, score=1.0 if verdict == "CORRECT" else 0.0,
                          details={"verdict": verdict, "verdicts": verdicts, "judges": judges}, **base)
    raise ValueError(f"no panel rule for metric {metric!r}")


def quiz_letters(record: ItemResult) -> dict[int, Any]:
    """``{quiz index: letter}`` of the scored quizzes of a quiz record (``None`` = the reply named no option)."""
    return {q["index"]: q.get("predicted") for q in record.details.get("quizzes", []) if q.get("state") == SCORED}


def _panel_quiz(scored: dict[str, ItemResult], judges: list[str], base: dict[str, Any]) -> ItemResult:
    # every quiz some judge graded (a judge's quiz left unscored is simply not its vote)
    template = {q["index"]: q for r in scored.values() for q in r.details.get("quizzes", []) if q.get("state") == SCORED}
    letters = {j: quiz_letters(r) for j, r in scored.items()}
    quizzes, correct, decided, tied = [], 0, 0, 0
    for quiz in (template[i] for i in sorted(template)):
        votes = {j: per[quiz["index"]] for j, per in letters.items() if quiz["index"] in per}
        answered = [v for v in votes.values() if v is not None]
        letter = ag.majority(answered) if answered else None
        if answered and letter is None:
            tied += 1
            quizzes.append({"index": quiz["index"], "state": UNSCORED, "reason": "panel tie", "votes": votes})
            continue
        decided += 1
        correct += letter == quiz.get("correct_option")
        quizzes.append({"index": quiz["index"], "state": SCORED, "predicted": letter, "votes": votes,
                        "correct_option": quiz.get("correct_option"), "correct": letter == quiz.get("correct_option")})
    # perfect is unknown when a tied quiz is the only thing between the item and a perfect score
    perfect = None if tied and correct == decided else correct == decided
    details = {"quizzes": quizzes, "n_quizzes": decided, "n_correct": correct, "n_tied": tied, "judges": judges,
               "perfect": perfect,
               **{k: sum(r.details.get(k, 0) for r in scored.values()) for k in ("answer_calls", "grader_calls")}}
    if decided == 0:
        return ItemResult(state=UNSCORED, reason=f"panel tie on every quiz ({tied})", details=details, **base)
    return ItemResult(state=SCORED, score=correct / decided, details=details, **base)


# --- agreement between judges -------------------------------------------------------------------------------------

def agreement_for(metric: str, per_judge: dict[str, list[ItemResult]]) -> dict[str, Any]:
    """Agreement of the judges on one metric (each judge's records in the same item order).

    Units: quiz — item id + quiz index, value = the judge's letter (abstentions missing), nominal; R_inv — item,
    verdict, nominal; judge — item + dimension, the 0–2 rating, ordinal (also per dimension). With K samples a
    judge's value is its majority letter / verdict, or the lower median rating, over its samples. Spearman
    correlates the judges' per-item scores.
    """
    item_scores = {}
    for judge, records in per_judge.items():
        for r in records:
            if r.state == SCORED:
                item_scores.setdefault(r.id, {})[judge] = r.score
    if metric == "judge":
        table: dict[Any, dict[str, Any]] = {}
        by_dim: dict[str, dict[Any, dict[str, Any]]] = {d: {} for d in JUDGE_DIMENSIONS}
        for judge, records in per_judge.items():
            for r in records:
                for dim, value in _ratings(r).items():
                    table.setdefault((r.id, dim), {})[judge] = value
                    by_dim[dim].setdefault(r.id, {})[judge] = value
        out = ag.agreement_block(table, "ordinal", item_scores)
        out["by_dimension"] = {d: {"krippendorff_alpha": ag.krippendorff_alpha(t, "ordinal", judges=list(per_judge))}
                               for d, t in by_dim.items()}
        out["unit"] = "item id + judge dimension"
        return out
    table = {}
    for judge, records in per_judge.items():
        for r in records:
            if r.state != SCORED:
                continue
            if metric in ("quiz", "quiz_blind"):
                for index, letter in quiz_letters(r).items():
                    table.setdefault((r.id, index), {})[judge] = letter  # None: abstention, missing
            elif metric == "rinv":
                table.setdefault(r.id, {})[judge] = r.details.get("verdict")
    out = ag.agreement_block(table, "nominal", item_scores)
    out["unit"] = "item id + quiz index" if metric in ("quiz", "quiz_blind") else "item id"
    return out


def _ratings(record: ItemResult) -> dict[str, int]:
    """A judge record's 0–2 ratings; with samples, the lower median of each dimension over the samples."""
    if record.state != SCORED:
        return {}
    samples = [s for s in record.details.get("samples", []) if s.get("state") == SCORED]
    if samples:
        return {d: ag.lower_median(s["dimensions"][d] for s in samples) for d in JUDGE_DIMENSIONS}
    return dict(record.details.get("dimensions") or {})
