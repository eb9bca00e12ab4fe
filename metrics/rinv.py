"""R_inv, inverse validation on the original problem (PROTOCOL §2.3–2.4).

The item's ``multimodal_question`` (the ``question`` for SeePhys) is answered from the image alone; the final
answer is compared with the gold answer, first by a conservative equivalence check (no call), then by a grader
model with a CORRECT / INCORRECT / INVALID rubric whose verdict must be the reply's last line (else unscored).
CORRECT scores 1, INCORRECT and INVALID score 0 (a refusal is the answering model's failure).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from scigenbench.metrics import _calls
from scigenbench.metrics._prompts import defang, prompt_version, render_prompt
from scigenbench.metrics.equivalence import answers_equivalent
from scigenbench.metrics.parsing import parse_verdict, strict_judgment, upstream_judgment
from scigenbench.metrics.records import (
    MISSING, NOT_APPLICABLE, SCORED, UNSCORED, ItemResult, model_id, problem_fields,
)

METRIC = "rinv"
ANSWER_PARAMS = {"temperature": 0.0, "max_tokens": 2048}
GRADER_PARAMS = {"temperature": 0.0, "max_tokens": 512}


def rinv_question(problem: dict[str, Any]) -> str | None:
    """The question answered from the image: ``multimodal_question``; SeePhys items use ``question``."""
    if problem.get("multimodal_question"):
        return problem["multimodal_question"]
    if problem.get("source") == "seephys":
        return problem["question"]
    return None


def final_answer(reply: str | None) -> str | None:
    """The text after the last ``Final answer:`` (same line), else ``None``."""
    matches = re.findall(r"final\s+answer\s*[:：]\s*(.+)", reply or "", flags=re.I)
    return matches[-1].strip().strip("*_` ").strip() or None if matches else None


def rinv_switches(*, image_encoding: str = "default", corrupted: str = "default", rinv_verdict: str = "default",
                  decoding: str = "default") -> list[str]:
    """The active compatibility switches of an R_inv evaluation, as recorded with each result."""
    active = ["image_encoding=upstream"] if image_encoding == "upstream" else []
    active += ["corrupted=upstream"] if corrupted == "upstream" else []
    active += ["rinv_verdict=upstream"] if rinv_verdict == "upstream" else []
    active += ["decoding=upstream"] if decoding == "upstream" else []
    return active


def rinv_item(problem: dict[str, Any], image: _calls.ImageLike | None, answerer: Any, *, grader: Any = None,
              missing_reason: str = "no image", image_encoding: str = "default", corrupted: str = "default",
              rinv_verdict: str = "default", decoding: str = "default") -> ItemResult:
    """Score one item for R_inv (synchronous :func:`arinv_item`; see it for the arguments)."""
    return _calls.run_sync(arinv_item(problem, image, answerer, grader=grader, missing_reason=missing_reason,
                                      image_encoding=image_encoding, corrupted=corrupted, rinv_verdict=rinv_verdict,
                                      decoding=decoding))


async def arinv_item(problem: dict[str, Any], image: _calls.ImageLike | None, answerer: Any, *, grader: Any = None,
                     missing_reason: str = "no image", image_encoding: str = "default", corrupted: str = "default",
                     rinv_verdict: str = "default", decoding: str = "default") -> ItemResult:
    """Score one item for R_inv. ``grader`` defaults to ``answerer``.

    Default: the final answer is checked against the gold answer by a conservative equivalence test (no call);
    otherwise the grader's ``Verdict: CORRECT|INCORRECT|INVALID`` (its last line, or a reply that is that one
    word) decides, re-asked with a format reminder at most :data:`~scigenbench.metrics._calls.REASKS` times before
    the item is unscored.

    Upstream-compatible switches (labelled ``protocol="upstream-compat"``): ``rinv_verdict="upstream"`` always asks
    the grader (no equivalence shortcut) for upstream's A/B/C judgment and reads it as upstream's
    ``process_judgment`` does, its misreads included (``details["upstream_defect"]`` says when the reading differs
    from the judgment's strict final line); ``decoding="upstream"`` calls both at the provider's default decoding;
    ``image_encoding="upstream"`` sends upstream's JPEG bytes; ``corrupted="upstream"`` labels an undecodable
    image as upstream's loader reads it ("image not found": missing).

    ``details`` holds the extracted final answer, the ``verdict`` and ``method`` (``equivalence`` or ``grader``).
    """
    grader = grader if grader is not None else answerer
    upstream_verdict = rinv_verdict == "upstream"
    base = dict(id=str(problem["id"]), metric=METRIC, prompt_version=prompt_version("rinv"),
                judge_model=model_id(answerer), grader_model=model_id(grader), **problem_fields(problem))
    switches = rinv_switches(image_encoding=image_encoding, corrupted=corrupted, rinv_verdict=rinv_verdict,
                             decoding=decoding)
    if switches:
        base.update(protocol="upstream-compat", switches=switches)
    question = rinv_question(problem)
    if not question:
        return ItemResult(state=NOT_APPLICABLE, reason="no multimodal_question", **base)
    if image is None:
        return ItemResult(state=MISSING, reason=missing_reason, **base)
    try:
        data, base["image_sha256"] = await _calls.aprepare_for(image, "quiz", image_encoding)
    except _calls.UnreadableImageError as exc:
        return _calls.corrupted_result(exc, corrupted, base)
    answer_params = {} if decoding == "upstream" else ANSWER_PARAMS
    grader_params = {} if decoding == "upstream" else GRADER_PARAMS
    out = await _calls.acall(answerer, _calls.user_message(render_prompt("rinv", question=question.strip()), data),
                             prompt_version=base["prompt_version"], **answer_params)
    base.update(calls=out.calls, usage=dict(out.usage), raw=out.text)
    if out.error:
        return ItemResult(state=UNSCORED, reason=_calls.error_reason("answer call failed", out.error), **base)
    answer = final_answer(out.text)
    grader_prompt = "rinv_grader_upstream" if upstream_verdict else "rinv_grader"
    details: dict[str, Any] = {"final_answer": answer, "grader_version": prompt_version(grader_prompt),
                               "params": answer_params, "grader_params": grader_params}
    gold = problem["answer"] or ""
    if not upstream_verdict and answer is not None and await asyncio.to_thread(answers_equivalent, answer, gold):
        details.update(verdict="CORRECT", method="equivalence")
        return ItemResult(state=SCORED, score=1.0, details=details, **base)
    prompt = render_prompt(grader_prompt, question=question.strip(), answer=gold.strip(), reply=defang(out.text))
    messages = _calls.user_message(prompt)
    if upstream_verdict:
        return await _grade_upstream(grader, messages, details, base, grader_params)
    asked = await _calls.ask_parsed(grader, messages, parse_verdict, expected="Verdict: CORRECT, Verdict: INCORRECT "
                                    "or Verdict: INVALID", prompt_version=details["grader_version"], **grader_params)
    base["calls"] += asked.calls
    _calls.add_usage(base["usage"], asked.usage)
    details.update(method="grader", grader_raw=asked.text, reasks=asked.reasks)
    if asked.error:
        return ItemResult(state=UNSCORED, reason=_calls.error_reason("grader call failed", asked.error),
                          details=details, **base)
    if asked.value is None:
        return ItemResult(state=UNSCORED, reason=f"grader verdict unparsable after {asked.reasks} re-ask(s): "
                          f"{asked.why}", details={**details, "grader_replies": asked.replies}, **base)
    details["verdict"] = asked.value
    return ItemResult(state=SCORED, score=1.0 if asked.value == "CORRECT" else 0.0, details=details, **base)


async def _grade_upstream(grader: Any, messages: list[dict[str, Any]], details: dict[str, Any],
                          base: dict[str, Any], params: dict[str, Any]) -> ItemResult:
    """Upstream's verdict: one grader call (no re-ask), read by ``process_judgment``; correct iff ``A``."""
    g = await _calls.acall(grader, messages, prompt_version=details["grader_version"], **params)
    base["calls"] += g.calls
    _calls.add_usage(base["usage"], g.usage)
    details.update(method="grader", grader_raw=g.text)
    if g.error:  # upstream wrote an error row, left out of the accuracy
        return ItemResult(state=UNSCORED, reason=_calls.error_reason("grader call failed", g.error),
                          details=details, **base)
    read = upstream_judgment(g.text)
    meant = strict_judgment(g.text)
    details.update(verdict=read or None, upstream_reading=read)
    if meant != read:
        details["upstream_defect"] = (f"upstream's process_judgment reads {read or 'nothing'!r} where the "
                                      f"judgment's final line says {meant or 'nothing'!r}")
    return ItemResult(state=SCORED, score=1.0 if read == "A" else 0.0, details=details, **base)
