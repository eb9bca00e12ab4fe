"""Inverse quiz validation (PROTOCOL §2.2, §4): each quiz answered from the image alone.

One answering call per quiz. The chosen letter is read by rule (a final ``Answer: X``, the reply being one
option's text, or a single distinct standalone letter); a grader model is called only when the reply is
ambiguous or names no letter. With ``blind=True`` the same quizzes are asked with no image, which measures how
guessable they are.
"""

from __future__ import annotations

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
    """Letters whose option value is present, in letter order (the dataset contract)."""
    options = quiz.get("options") or {}
    return [k for k in LETTERS if options.get(k) is not None]


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
    if quiz.get("scorable") is False:
        return False, "quiz marked unscorable by validation: " + ",".join(quiz.get("defects") or [])
    if len(letters) < 2 or quiz.get("correct_option") not in letters:
        return False, f"correct option {quiz.get('correct_option')!r} not among offered letters {letters}"
    return True, None


def answer_quiz(quiz: dict[str, Any], image: Any, answerer: Any, grader: Any | None, *,
                blind: bool = False, always_grade: bool = False) -> dict[str, Any]:
    """Ask one quiz and grade it. Returns a quiz record: ``state``, ``correct`` (bool), ``predicted``,
    ``method`` (how the letter was read), ``raw``, ``calls``, ``grader_calls``, ``usage``, ``reason``.
    ``always_grade`` (switch ``quiz_grader="llm"``) sends every reply to the grader, like upstream."""
    letters = offered_letters(quiz)
    rec: dict[str, Any] = {"correct_option": quiz["correct_option"], "letters": letters, "calls": 0,
                           "grader_calls": 0, "usage": {}, "reason": None}
    version = prompt_version("quiz_blind" if blind else "quiz")
    out = _calls.call(answerer, _calls.user_message(quiz_prompt(quiz, blind=blind), None if blind else image),
                      prompt_version=version, **QUIZ_PARAMS)
    rec["calls"] += out.calls
    _calls.add_usage(rec["usage"], out.usage)
    if out.error:
        return {**rec, "state": UNSCORED, "reason": _calls.error_reason("answer call failed", out.error)}
    rec["raw"] = out.text
    parsed = extract_letter(out.text, letters, quiz["options"])
    letter, method = parsed.letter, parsed.status
    if (always_grade or not parsed.decided) and grader is not None:
        g = _grade_letter(quiz, out.text, grader)
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


def _grade_letter(quiz: dict[str, Any], reply: str, grader: Any) -> _calls.CallOutcome:
    letters = offered_letters(quiz)
    prompt = render_prompt("letter_grader", question=quiz["question"].strip(), options=format_options(quiz),
                           reply=defang(reply), letters=_letters_text(letters))
    return _calls.call(grader, _calls.user_message(prompt), prompt_version=prompt_version("letter_grader"),
                       **GRADER_PARAMS)


def quiz_item(problem: dict[str, Any], image: _calls.ImageLike | None, answerer: Any, *, grader: Any = None,
              blind: bool = False, missing_reason: str = "no image", quiz_grader: str = "rule") -> ItemResult:
    """Answer every quiz of one item and grade it.

    The item is *scored* when every scorable quiz got a valid grade (``score`` = fraction correct), *unscored*
    when any quiz could not be graded (the graded ones stay in ``details["quizzes"]``; a re-run fills the rest
    from the response cache), *missing* without an image (except in blind mode, which needs none), and
    *not_applicable* when no quiz is scorable. ``quiz_grader="llm"`` (upstream-compatible, needs ``grader``)
    grades every reply with the grader model instead of reading the letter by rule.
    """
    if quiz_grader not in ("rule", "llm"):
        raise ValueError(f"quiz_grader must be 'rule' or 'llm', got {quiz_grader!r}")
    if quiz_grader == "llm" and grader is None:
        raise ValueError("quiz_grader='llm' needs a grader backend (--grader SPEC)")
    metric = "quiz_blind" if blind else "quiz"
    base = dict(id=str(problem["id"]), metric=metric, prompt_version=prompt_version(metric),
                judge_model=model_id(answerer), grader_model=model_id(grader), **problem_fields(problem))
    if quiz_grader == "llm":
        base.update(protocol="upstream-compat", switches=["quiz_grader=llm"])
    quizzes = problem.get("quizzes") or []
    n_scorable = sum(_is_scorable(q)[0] for q in quizzes)
    if n_scorable == 0:
        return ItemResult(state=NOT_APPLICABLE, reason="no scorable quiz", **base)
    data = None
    if not blind:
        if image is None:
            return ItemResult(state=MISSING, reason=missing_reason, details={"n_quizzes": n_scorable}, **base)
        data, base["image_sha256"] = _calls.prepare_image(image)
    records, usage = [], {}
    for index, quiz in enumerate(quizzes):
        ok, why = _is_scorable(quiz)
        rec = answer_quiz(quiz, data, answerer, grader, blind=blind, always_grade=quiz_grader == "llm") if ok else {
            "state": NOT_APPLICABLE, "reason": why, "calls": 0, "grader_calls": 0, "usage": {}}
        rec["index"] = index
        _calls.add_usage(usage, rec["usage"])
        records.append(rec)
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


def guessing_baseline(problems: list[dict[str, Any]]) -> dict[str, Any]:
    """Constant-letter guessing baselines (PROTOCOL §1.4): micro accuracy of always answering each letter, and the
    perfect-image rate of the best constant guess. Counts only scorable quizzes."""
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
    perfect = 0
    n_items = 0
    for p in problems:
        qs = [q for q in p.get("quizzes") or [] if _is_scorable(q)[0]]
        if qs:
            n_items += 1
            perfect += all(q["correct_option"] == best for q in qs)
    return {"n_quizzes": total, "micro_by_letter": micro, "best_letter": best, "best_micro": micro[best],
            "best_perfect_image_rate": perfect / n_items if n_items else None}
