"""LMM-as-judge: five rubric dimensions, integers 0–2 (PROTOCOL §2.1), from our own prompt.

The judge sees the image and the original question (the "caption"), nothing else. Its verdict is the last
well-formed JSON object with the five keys; anything else is *unscored* with the raw text kept.
"""

from __future__ import annotations

from typing import Any

from scigenbench.metrics import _calls
from scigenbench.metrics._prompts import prompt_version, render_prompt
from scigenbench.metrics.parsing import JUDGE_DIMENSIONS, JudgeParse, parse_judge, parse_judge_fence_only
from scigenbench.metrics.records import MISSING, SCORED, UNSCORED, ItemResult, model_id, problem_fields

METRIC = "judge"
#: decoding parameters of the judge call (recorded in every result)
JUDGE_PARAMS = {"temperature": 0.0, "max_tokens": 1024}
#: upstream's (switch ``decoding="upstream"``): temperature 0.1, no token limit
UPSTREAM_JUDGE_PARAMS = {"temperature": 0.1}
#: the line a format reminder asks for
_EXPECTED = ("a JSON object with the five keys " + ", ".join(JUDGE_DIMENSIONS) + ", each an integer 0, 1 or 2")


def judge_prompt(problem: dict[str, Any]) -> str:
    """The judge prompt for one problem (the caption is the original ``question``)."""
    return render_prompt("judge", caption=problem["question"].strip())


def judge_switches(*, judge_parse: str = "strict", image_encoding: str = "default",
                   corrupted: str = "default", decoding: str = "default") -> list[str]:
    """The active compatibility switches of a judge evaluation, as recorded with each result."""
    active = [f"judge_parse={judge_parse}"] if judge_parse != "strict" else []
    active += ["decoding=upstream"] if decoding == "upstream" else []
    active += ["image_encoding=upstream"] if image_encoding == "upstream" else []
    active += ["corrupted=upstream"] if corrupted == "upstream" else []
    return active


def judge_item(problem: dict[str, Any], image: _calls.ImageLike | None, backend: Any, *,
               missing_reason: str = "no image", judge_parse: str = "strict", image_encoding: str = "default",
               corrupted: str = "default", decoding: str = "default", **params: Any) -> ItemResult:
    """Score one image with the LMM judge (synchronous :func:`ajudge_item`; see it for the arguments)."""
    return _calls.run_sync(ajudge_item(problem, image, backend, missing_reason=missing_reason,
                                       judge_parse=judge_parse, image_encoding=image_encoding, corrupted=corrupted,
                                       decoding=decoding, **params))


async def ajudge_item(problem: dict[str, Any], image: _calls.ImageLike | None, backend: Any, *,
                      missing_reason: str = "no image", judge_parse: str = "strict", image_encoding: str = "default",
                      corrupted: str = "default", decoding: str = "default", **params: Any) -> ItemResult:
    """Score one image with the LMM judge.

    Args:
        problem: a SciGenBench row (``id``, ``question``, ``domain``, ``image_type``...).
        image: the generated image (bytes, path or PIL) or ``None`` when generation produced none.
        backend: a chat backend (see ``scigenbench.metrics.resolve_backend``).
        missing_reason: recorded when ``image`` is ``None``.
        judge_parse: ``"strict"`` (default) or ``"fence_only"`` (upstream's parse,
            :func:`~scigenbench.metrics.parsing.parse_judge_fence_only`). An unparsable reply is re-asked with a
            format reminder at most :data:`~scigenbench.metrics._calls.REASKS` times before the item is unscored.
        decoding: ``"default"`` or ``"upstream"`` (temperature 0.1, no token limit).
        image_encoding: ``"default"`` (the project encoder) or ``"upstream"`` (upstream's exact bytes: RGB without
            alpha compositing, full-resolution PNG).
        corrupted: ``"default"`` or ``"upstream"``: an undecodable image is *missing* either way (upstream reads
            it as "image not found"); the switch labels the record.
        **params: decoding parameters overriding :data:`JUDGE_PARAMS`.

    Returns:
        An :class:`ItemResult`; when scored, ``score`` is the mean of the five dimensions and
        ``details["dimensions"]`` holds each one.
    """
    base = dict(id=str(problem["id"]), metric=METRIC, prompt_version=prompt_version("judge"),
                judge_model=model_id(backend), **problem_fields(problem))
    compat = judge_parse != "strict"
    switches = judge_switches(judge_parse=judge_parse, image_encoding=image_encoding, corrupted=corrupted,
                              decoding=decoding)
    if switches:
        base.update(protocol="upstream-compat", switches=switches)
    if image is None:
        return ItemResult(state=MISSING, reason=missing_reason, **base)
    try:
        data, base["image_sha256"] = await _calls.aprepare_for(image, "judge", image_encoding)
    except _calls.UnreadableImageError as exc:
        return _calls.corrupted_result(exc, corrupted, base)
    params = {**(UPSTREAM_JUDGE_PARAMS if decoding == "upstream" else JUDGE_PARAMS), **params}
    parse = parse_judge_fence_only if compat else parse_judge

    def readable(text: str | None) -> tuple[JudgeParse | None, str | None]:
        parsed = parse(text)
        return (parsed, None) if parsed.scores is not None or parsed.final else (None, parsed.reason)

    asked = await _calls.ask_parsed(backend, _calls.user_message(judge_prompt(problem), data), readable,
                                    expected=_EXPECTED, prompt_version=base["prompt_version"], **params)
    base.update(calls=asked.calls, usage=asked.usage)
    details: dict[str, Any] = {"params": params, "reasks": asked.reasks}
    if asked.error:
        return ItemResult(state=UNSCORED, reason=_calls.error_reason("judge call failed", asked.error),
                          details={"error": asked.error, **details}, **base)
    parsed = asked.value
    if parsed is None or parsed.scores is None:
        why = parsed.reason if parsed is not None else f"{asked.why} (after {asked.reasks} re-ask(s))"
        return ItemResult(state=UNSCORED, reason=f"judge reply unparsable: {why}", raw=asked.text,
                          details={**details, "replies": asked.replies}, **base)
    score = sum(parsed.scores.values()) / len(JUDGE_DIMENSIONS)
    return ItemResult(state=SCORED, score=score, raw=asked.text, details={"dimensions": parsed.scores, **details},
                      **base)
