"""LMM-as-judge: five rubric dimensions, integers 0–2 (PROTOCOL §2.1), from our own prompt.

The judge sees the image and the original question (the "caption"), nothing else. Its verdict is the last
well-formed JSON object with the five keys; anything else is *unscored* with the raw text kept.
"""

from __future__ import annotations

from typing import Any

from scigenbench.metrics import _calls
from scigenbench.metrics._prompts import prompt_version, render_prompt
from scigenbench.metrics.parsing import JUDGE_DIMENSIONS, parse_judge, parse_judge_fence_only
from scigenbench.metrics.records import MISSING, SCORED, UNSCORED, ItemResult, model_id, problem_fields

METRIC = "judge"
#: decoding parameters of the judge call (recorded in every result)
JUDGE_PARAMS = {"temperature": 0.0, "max_tokens": 1024}


def judge_prompt(problem: dict[str, Any]) -> str:
    """The judge prompt for one problem (the caption is the original ``question``)."""
    return render_prompt("judge", caption=problem["question"].strip())


def judge_switches(*, judge_parse: str = "strict", image_encoding: str = "default",
                   corrupted: str = "default") -> list[str]:
    """The active compatibility switches of a judge evaluation, as recorded with each result."""
    active = [f"judge_parse={judge_parse}"] if judge_parse != "strict" else []
    active += ["image_encoding=upstream"] if image_encoding == "upstream" else []
    active += ["corrupted=upstream"] if corrupted == "upstream" else []
    return active


def judge_item(problem: dict[str, Any], image: _calls.ImageLike | None, backend: Any, *,
               missing_reason: str = "no image", judge_parse: str = "strict", image_encoding: str = "default",
               corrupted: str = "default", **params: Any) -> ItemResult:
    """Score one image with the LMM judge (synchronous :func:`ajudge_item`; see it for the arguments)."""
    return _calls.run_sync(ajudge_item(problem, image, backend, missing_reason=missing_reason,
                                       judge_parse=judge_parse, image_encoding=image_encoding, corrupted=corrupted,
                                       **params))


async def ajudge_item(problem: dict[str, Any], image: _calls.ImageLike | None, backend: Any, *,
                      missing_reason: str = "no image", judge_parse: str = "strict", image_encoding: str = "default",
                      corrupted: str = "default", **params: Any) -> ItemResult:
    """Score one image with the LMM judge.

    Args:
        problem: a SciGenBench row (``id``, ``question``, ``domain``, ``image_type``...).
        image: the generated image (bytes, path or PIL) or ``None`` when generation produced none.
        backend: a chat backend (see ``scigenbench.metrics.resolve_backend``).
        missing_reason: recorded when ``image`` is ``None``.
        judge_parse: ``"strict"`` (default) or ``"fence_only"`` (upstream-compatible, lossy).
        image_encoding: ``"default"`` (the project encoder) or ``"upstream"`` (RGB without alpha compositing, full
            resolution PNG; upstream-compatible).
        corrupted: ``"default"`` (an undecodable image is *missing*) or ``"upstream"`` (left out: *unscored*).
        **params: decoding parameters overriding :data:`JUDGE_PARAMS`.

    Returns:
        An :class:`ItemResult`; when scored, ``score`` is the mean of the five dimensions and
        ``details["dimensions"]`` holds each one.
    """
    base = dict(id=str(problem["id"]), metric=METRIC, prompt_version=prompt_version("judge"),
                judge_model=model_id(backend), **problem_fields(problem))
    compat = judge_parse != "strict"
    switches = judge_switches(judge_parse=judge_parse, image_encoding=image_encoding, corrupted=corrupted)
    if switches:
        base.update(protocol="upstream-compat", switches=switches)
    if image is None:
        return ItemResult(state=MISSING, reason=missing_reason, **base)
    try:
        data, base["image_sha256"] = await _calls.aprepare_for(image, "judge", image_encoding)
    except _calls.UnreadableImageError as exc:
        return _calls.corrupted_result(exc, corrupted, base)
    decoding = {**JUDGE_PARAMS, **params}
    out = await _calls.acall(backend, _calls.user_message(judge_prompt(problem), data),
                      prompt_version=base["prompt_version"], **decoding)
    base.update(calls=out.calls, usage=out.usage)
    if out.error:
        return ItemResult(state=UNSCORED, reason=_calls.error_reason("judge call failed", out.error),
                          details={"error": out.error, "params": decoding}, **base)
    parsed = (parse_judge_fence_only if compat else parse_judge)(out.text)
    if parsed.scores is None:
        return ItemResult(state=UNSCORED, reason=f"judge reply unparsable: {parsed.reason}", raw=out.text,
                          details={"params": decoding}, **base)
    score = sum(parsed.scores.values()) / len(JUDGE_DIMENSIONS)
    return ItemResult(state=SCORED, score=score, raw=out.text,
                      details={"dimensions": parsed.scores, "params": decoding}, **base)
