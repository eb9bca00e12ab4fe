"""Inverse quiz validation (PROTOCOL §2.2, §4): each quiz answered from the image alone.

One answering call per quiz. The chosen letter is read by rule (a final ``Answer: X``, the reply being one
option's text, or a single distinct standalone letter); a grader model is called only when the reply is
ambiguous or names no letter. With ``blind=True`` the same quizzes are asked with no image, which measures how
guessable they are.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from scigenbench.metrics import _calls
from scigenbench.metrics._prompts import defang, prompt_version, render_prompt
from scigenbench.metrics.parsing import extract_letter, parse_grader_letter
from scigenbench.metrics.records import (
    MISSING, NOT_APPLICABLE, SCORED, UNSCORED, ItemResult, model_id, problem_fields,
)

QUIZ_PARAMS = {"temperature": 0.0, "max_tokens": 512}
GRADER_PARAMS = {"temperature": 0.0, "max_tokens": 256}
LETTERS = ("A", "B", "C", "D", "E")


def offered_letters(quiz: dict[str, Any]) -> list[str]:
    """Letters whose option value is present, in letter order (the dataset contract). A :func:`raw_quiz` view
    offers its stored keys in stored order instead."""
    options = quiz.get("options") or {}
    if quiz.get("raw_view"):
        return [k for k, v in options.items() if v is not None]
    return [k for k in LETTERS if options.get(k) is not None]


def raw_quiz(quiz: dict[str, Any]) -> dict[str, Any]:
    """The quiz as upstream asked it (switch ``options="raw"``): stored option keys and order, D2/D4 unrepaired
    (``raw_options`` kept by the data layer in ``quiz["extra"]``), the stored ``correct_option``, and asked even
    when validation marked it unscorable. A quiz whose correct letter is not among the stored keys (D3) can then
    only be answered wrong, as upstream scored it."""
    extra = quiz.get("extra")
    try:
        extra = json.loads(extra) if isinstance(extra, str) and extra else (extra or {})
    except ValueError:
        extra = {}
    pairs = extra.get("raw_options") if isinstance(extra, dict) else None
    options = quiz.get("options") or {}
    ordered = {str(k): v for k, v in pairs} if pairs else {k: options[k] for k in LETTERS if options.get(k) is not None}
    return {**quiz, "options": ordered, "raw_view": True, "scorable": True, "defects": []}


def format_options(quiz: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {quiz['options'][k]}" for k in offered_letters(quiz))


def _letters_text(letters: list[str]) -> str:
    return ", ".join(letters[:-1]) + f" or {letters[-1]}" if len(letters) > 1 else letters[0]


def quiz_prompt(quiz: dict[str, Any], *, blind: bool = False) -> str:
    """The answering prompt; it lists the letters actually offered (5 for the two A–E quizzes)."""
    return render_prompt("quiz_blind" if blind else "quiz", question=quiz["question"].strip(),
                         options=format_options(quiz), letters=_letters_text(offered_letters(quiz)))


def _is_scorable(quiz: dict[str, Any]) -> tuple[bool, str | None]:
    letters = offered_letters(quiz)
    if quiz.get("raw_view"):  # upstream asked every quiz with options, answerable or not
        return (True, None) if letters else (False, "quiz has no options")
    if quiz.get("scorable") is False:
        return False, "quiz marked unscorable by validation: " + ",".join(quiz.get("defects") or [])
    if len(letters) < 2 or quiz.get("correct_option") not in letters:
        return False, f"correct option {quiz.get('correct_option')!r} not among offered letters {letters}"
    return True, None


def answer_quiz(quiz: dict[str, Any], image: Any, answerer: Any, grader: Any | None, *,
                blind: bool = False, always_grade: bool = False) -> dict[str, Any]:
    """Synchronous :func:`aanswer_quiz`."""
    return _calls.run_sync(aanswer_quiz(quiz, image, answerer, grader, blind=blind, always_grade=always_grade))


async def aanswer_quiz(quiz: dict[str, Any], image: Any, answerer: Any, grader: Any | None, *,
                       blind: bool = False, always_grade: bool = False) -> dict[str, Any]:
    """Ask one quiz and grade it. Returns a quiz record: ``state``, ``correct`` (bool), ``predicted``,
    ``method`` (how the letter was read), ``raw``, ``calls``, ``grader_calls``, ``usage``, ``reason``.
    ``always_grade`` (switch ``quiz_grader="llm"``) sends every reply to the grader, like upstream."""
    letters = offered_letters(quiz)
    rec: dict[str, Any] = {"correct_option": quiz["correct_option"], "letters": letters, "calls": 0,
                           "grader_calls": 0, "usage": {}, "reason": None}
    version = prompt_version("quiz_blind" if blind else "quiz")
    out = await _calls.acall(answerer, _calls.user_message(quiz_prompt(quiz, blind=blind), None if blind else image),
                      prompt_version=version, **QUIZ_PARAMS)
    rec["calls"] += out.calls
    _calls.add_usage(rec["usage"], out.usage)
    if out.error:
        return {**rec, "state": UNSCORED, "reason": _calls.error_reason("answer call failed", out.error)}
    rec["raw"] = out.text
    parsed = extract_letter(out.text, letters, quiz["options"])
    letter, method = parsed.letter, parsed.status
    if (always_grade or not parsed.decided) and grader is not None:
        g = await _grade_letter(quiz, out.text, grader)
        rec["grader_calls"] += g.calls
        _calls.add_usage(rec["usage"], g.usage)
        rec["grader_raw"] = g.text
        if g.error:
            return {**rec, "state": UNSCORED, "reason": _calls.error_reason("letter grader call failed", g.error)}
        value, why = parse_grader_letter(g.text, letters)
        if value is None:
            return {**rec, "state": UNSCORED, "reason": f"letter grader reply unparsable: {why}"}
        letter, method = (None if value == "NONE" else value), "grader"
    elif parsed.status == "ambiguous":
        method = "last_letter"  # no grader configured: the last standalone letter, as the protocol allows
    # a reply naming no offered option is the answering model's failure: it scores 0, it is not unscored
    return {**rec, "state": SCORED, "predicted": letter, "method": method,
            "correct": letter == quiz["correct_option"]}


async def _grade_letter(quiz: dict[str, Any], reply: str, grader: Any) -> _calls.CallOutcome:
    letters = offered_letters(quiz)
    prompt = render_prompt("letter_grader", question=quiz["question"].strip(), options=format_options(quiz),
                           reply=defang(reply), letters=_letters_text(letters))
    return await _calls.acall(grader, _calls.user_message(prompt), prompt_version=prompt_version("letter_grader"),
                              **GRADER_PARAMS)


def quiz_item(problem: dict[str, Any], image: _calls.ImageLike | None, answerer: Any, *, grader: Any = None,
              blind: bool = False, missing_reason: str = "no image", quiz_grader: str = "rule",
              options: str = "repaired", image_encoding: str = "default", corrupted: str = "default") -> ItemResult:
    """Answer every quiz of one item and grade it (synchronous :func:`aquiz_item`; see it for the arguments)."""
    return _calls.run_sync(aquiz_item(problem, image, answerer, grader=grader, blind=blind,
                                      missing_reason=missing_reason, quiz_grader=quiz_grader, options=options,
                                      image_encoding=image_encoding, corrupted=corrupted))


async def aquiz_item(problem: dict[str, Any], image: _calls.ImageLike | None, answerer: Any, *, grader: Any = None,
                     blind: bool = False, missing_reason: str = "no image", quiz_grader: str = "rule",
                     options: str = "repaired", image_encoding: str = "default", corrupted: str = "default"
                     ) -> ItemResult:
    """Answer every quiz of one item and grade it; the quizzes are asked concurrently (each call still counts
    against the backend's limits).

    The item is *scored* when every scorable quiz got a valid grade (``score`` = fraction correct), *unscored*
    when any quiz could not be graded (the graded ones stay in ``details["quizzes"]``; a re-run fills the rest
    from the response cache), *missing* without an image (except in blind mode, which needs none), and
    *not_applicable* when no quiz is scorable. An undecodable image is *missing* too.

    Upstream-compatible switches (results labelled ``protocol="upstream-compat"`` with the active switches):
    ``quiz_grader="llm"`` (needs ``grader``) grades every reply with the grader model instead of reading the
    letter by rule; ``options="raw"`` asks the stored, unrepaired options (:func:`raw_quiz`);
    ``image_encoding="upstream"`` sends upstream's JPEG-ladder pixels; ``corrupted="upstream"`` scores an
    undecodable image 0 on SciGen and leaves it out (unscored) on SeePhys.
    """
    if quiz_grader not in ("rule", "llm"):
        raise ValueError(f"quiz_grader must be 'rule' or 'llm', got {quiz_grader!r}")
    if options not in ("repaired", "raw"):
        raise ValueError(f"options must be 'repaired' or 'raw', got {options!r}")
    if corrupted not in ("default", "upstream"):
        raise ValueError(f"corrupted must be 'default' or 'upstream', got {corrupted!r}")
    if quiz_grader == "llm" and grader is None:
        raise ValueError("quiz_grader='llm' needs a grader backend (--grader SPEC)")
    metric = "quiz_blind" if blind else "quiz"
    base = dict(id=str(problem["id"]), metric=metric, prompt_version=prompt_version(metric),
                judge_model=model_id(answerer), grader_model=model_id(grader), **problem_fields(problem))
    switches = quiz_switches(quiz_grader=quiz_grader, options=options, image_encoding=image_encoding,
                             corrupted=corrupted, blind=blind)
    if switches:
        base.update(protocol="upstream-compat", switches=switches)
    quizzes = problem.get("quizzes") or []
    if options == "raw":
        quizzes = [raw_quiz(q) for q in quizzes]
    n_scorable = sum(_is_scorable(q)[0] for q in quizzes)
    if n_scorable == 0:
        return ItemResult(state=NOT_APPLICABLE, reason="no scorable quiz", **base)
    data = None
    if not blind:
        if image is None:
            return ItemResult(state=MISSING, reason=missing_reason, details={"n_quizzes": n_scorable}, **base)
        try:
            data, base["image_sha256"] = await _calls.aprepare_for(image, "quiz", image_encoding)
        except _calls.UnreadableImageError as exc:
            return _corrupted(problem, exc, corrupted, n_scorable, base)
    async def one(quiz: dict[str, Any]) -> dict[str, Any]:
        ok, why = _is_scorable(quiz)
        if not ok:
            return {"state": NOT_APPLICABLE, "reason": why, "calls": 0, "grader_calls": 0, "usage": {}}
        return await aanswer_quiz(quiz, data, answerer, grader, blind=blind, always_grade=quiz_grader == "llm")

    records = list(await asyncio.gather(*(one(q) for q in quizzes)))
    usage: dict[str, float] = {}
    for index, rec in enumerate(records):
        rec["index"] = index
        _calls.add_usage(usage, rec["usage"])
    scored = [r for r in records if r["state"] == SCORED]
    unscored = [r for r in records if r["state"] == UNSCORED]
    details = {"quizzes": records, "n_quizzes": n_scorable, "n_correct": sum(r["correct"] for r in scored),
               "params": QUIZ_PARAMS, "grader_params": GRADER_PARAMS,
               "answer_calls": sum(r["calls"] for r in records),
               "grader_calls": sum(r["grader_calls"] for r in records)}
    base.update(calls=details["answer_calls"] + details["grader_calls"], usage=usage,
                raw=(records[-1].get("raw") if records else None))
    if unscored:
        reasons = "; ".join(f"quiz {r['index']}: {r['reason']}" for r in unscored)
        return ItemResult(state=UNSCORED, reason=f"{len(unscored)} of {n_scorable} quizzes unscored: {reasons}"[:800],
                          details=details, **base)
    return ItemResult(state=SCORED, score=details["n_correct"] / n_scorable, details=details, **base)


def quiz_switches(*, quiz_grader: str = "rule", options: str = "repaired", image_encoding: str = "default",
                  corrupted: str = "default", blind: bool = False) -> list[str]:
    """The active compatibility switches of a quiz evaluation, as recorded with each result."""
    active = [f"quiz_grader={quiz_grader}"] if quiz_grader != "rule" else []
    active += ["options=raw"] if options == "raw" else []
    if not blind:  # blind quizzes send no image: encoding and corruption do not apply
        active += ["image_encoding=upstream"] if image_encoding == "upstream" else []
        active += ["corrupted=upstream"] if corrupted == "upstream" else []
    return active


def _corrupted(problem: dict[str, Any], exc: "_calls.UnreadableImageError", corrupted: str, n_scorable: int,
               base: dict[str, Any]) -> ItemResult:
    """An undecodable image: *missing* by default; upstream scored it 0 on SciGen and excluded it on SeePhys."""
    base = {**base, "image_sha256": exc.sha256}
    if corrupted != "upstream":
        return ItemResult(state=MISSING, reason=str(exc), details={"n_quizzes": n_scorable}, **base)
    if problem.get("source") == "seephys":
        return ItemResult(state=UNSCORED, reason=f"corrupted image excluded (upstream seephys): {exc}"[:300],
                          details={"n_quizzes": n_scorable}, **base)
    return ItemResult(state=SCORED, score=0.0, reason=None,
                      details={"n_quizzes": n_scorable, "n_correct": 0, "corrupted": str(exc), "answer_calls": 0,
                               "grader_calls": 0}, **base)


def guessing_baseline(problems: list[dict[str, Any]]) -> dict[str, Any]:
    """Constant-letter guessing baselines (PROTOCOL §1.4): micro accuracy and perfect-image rate of always answering
    each letter, and the best of each (the two bests may be different letters). Counts only scorable quizzes."""
    per_letter: dict[str, int] = {k: 0 for k in LETTERS}
    total = 0
    for p in problems:
        for q in p.get("quizzes") or []:
            if _is_scorable(q)[0]:
                total += 1
                per_letter[q["correct_option"]] += 1
    if total == 0:
        return {"n_quizzes": 0}
    micro = {k: v / total for k, v in per_letter.items() if v}
    best = max(micro, key=micro.get)
    items = [[q["correct_option"] for q in p.get("quizzes") or [] if _is_scorable(q)[0]] for p in problems]
    items = [letters for letters in items if letters]
    # the best constant guess for the perfect-image rate need not be the best one for micro accuracy
    # (SeePhys: "always C" is best micro, "always B" gives the most perfect images, PROTOCOL §1.4)
    perfect = {k: sum(all(c == k for c in letters) for letters in items) / len(items) for k in micro}
    best_perfect = max(perfect, key=perfect.get)
    return {"n_quizzes": total, "micro_by_letter": micro, "best_letter": best, "best_micro": micro[best],
            "perfect_by_letter": perfect, "best_perfect_letter": best_perfect,
            "best_perfect_image_rate": perfect[best_perfect]}
