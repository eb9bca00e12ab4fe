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
from scigenbench.metrics.parsing import parse_verdict
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


def rinv_item(problem: dict[str, Any], image: _calls.ImageLike | None, answerer: Any, *, grader: Any = None,
              missing_reason: str = "no image", image_encoding: str = "default", corrupted: str = "default"
              ) -> ItemResult:
    """Score one item for R_inv (synchronous :func:`arinv_item`; see it for the arguments)."""
    return _calls.run_sync(arinv_item(problem, image, answerer, grader=grader, missing_reason=missing_reason,
                                      image_encoding=image_encoding, corrupted=corrupted))


async def arinv_item(problem: dict[str, Any], image: _calls.ImageLike | None, answerer: Any, *, grader: Any = None,
                     missing_reason: str = "no image", image_encoding: str = "default", corrupted: str = "default"
                     ) -> ItemResult:
    """Score one item for R_inv. ``grader`` defaults to ``answerer``.

    ``image_encoding="upstream"`` sends upstream's JPEG-ladder pixels; ``corrupted="upstream"`` leaves an
    undecodable image out (*unscored*) instead of counting it *missing* (both labelled upstream-compat).

    ``details`` holds the extracted final answer, the ``verdict`` and ``method`` (``equivalence`` or ``grader``).
    """
    grader = grader if grader is not None else answerer
    base = dict(id=str(problem["id"]), metric=METRIC, prompt_version=prompt_version("rinv"),
                judge_model=model_id(answerer), grader_model=model_id(grader), **problem_fields(problem))
    switches = (["image_encoding=upstream"] if image_encoding == "upstream" else []) + \
        (["corrupted=upstream"] if corrupted == "upstream" else [])
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
    out = await _calls.acall(answerer, _calls.user_message(render_prompt("rinv", question=question.strip()), data),
                      prompt_version=base["prompt_version"], **ANSWER_PARAMS)
    base.update(calls=out.calls, usage=dict(out.usage), raw=out.text)
    if out.error:
        return ItemResult(state=UNSCORED, reason=_calls.error_reason("answer call failed", out.error), **base)
    answer = final_answer(out.text)
    details: dict[str, Any] = {"final_answer": answer, "grader_version": prompt_version("rinv_grader"),
                               "params": ANSWER_PARAMS, "grader_params": GRADER_PARAMS}
    if answer is not None and await asyncio.to_thread(answers_equivalent, answer, problem["answer"]):
        details.update(verdict="CORRECT", method="equivalence")
        return ItemResult(state=SCORED, score=1.0, details=details, **base)
    prompt = render_prompt("rinv_grader", question=question.strip(), answer=problem["answer"].strip(),
                           reply=defang(out.text))
    g = await _calls.acall(grader, _calls.user_message(prompt), prompt_version=details["grader_version"], **GRADER_PARAMS)
    base["calls"] += g.calls
    _calls.add_usage(base["usage"], g.usage)
    details.update(method="grader", grader_raw=g.text)
    if g.error:
        return ItemResult(state=UNSCORED, reason=_calls.error_reason("grader call failed", g.error),
                          details=details, **base)
    verdict, why = parse_verdict(g.text)
    if verdict is None:
        return ItemResult(state=UNSCORED, reason=f"grader verdict unparsable: {why}", details=details, **base)
    details["verdict"] = verdict
    return ItemResult(state=SCORED, score=1.0 if verdict == "CORRECT" else 0.0, details=details, **base)
