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
#: upstream's decoding (switch ``decoding="upstream"``): temperature 0 for both calls, no token limit
UPSTREAM_QUIZ_PARAMS = {"temperature": 0.0}
UPSTREAM_GRADER_PARAMS = {"temperature": 0.0}
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
                       blind: bool = False, always_grade: bool = False, decoding: str = "default") -> dict[str, Any]:
    """Ask one quiz and grade it. Returns a quiz record: ``state``, ``correct``, ``predicted`` (the letter read, or
    ``None`` for an explicit abstention), ``read_by`` (``rule`` or ``grader``), ``rule`` (what the rule reader
    made of the reply, :class:`~scigenbench.metrics.parsing.LetterParse` status), ``raw``, ``calls``,
    ``grader_calls``, ``usage``, ``reason``.

    The letter is read by rule only when the reply is unambiguous; otherwise the grader reads it (re-asked with a
    format reminder, at most :data:`~scigenbench.metrics._calls.REASKS` times, when its own reply cannot be read),
    and without a grader the quiz is *unscored* with the raw reply kept — never a guessed letter.
    ``always_grade`` (switch ``quiz_grader="llm"``) follows upstream's contract instead: every reply goes to a
    verification call whose JSON ``is_correct`` is taken as upstream's code and pandas take it (parse failure = 0).
    """
    letters = offered_letters(quiz)
    rec: dict[str, Any] = {"correct_option": quiz["correct_option"], "letters": letters, "calls": 0,
                           "grader_calls": 0, "usage": {}, "reason": None}
    version = prompt_version("quiz_blind" if blind else "quiz")
    params = UPSTREAM_QUIZ_PARAMS if decoding == "upstream" else QUIZ_PARAMS
    out = await _calls.acall(answerer, _calls.user_message(quiz_prompt(quiz, blind=blind), None if blind else image),
                             prompt_version=version, **params)
    rec["calls"] += out.calls
    _calls.add_usage(rec["usage"], out.usage)
    if out.error:
        return {**rec, "state": UNSCORED, "reason": _calls.error_reason("answer call failed", out.error)}
    rec["raw"] = out.text
    if always_grade:
        return await _verify_upstream(quiz, out.text or "", grader, rec, decoding)
    parsed = extract_letter(out.text, letters, quiz["options"])
    rec["rule"] = parsed.status
    if parsed.decided:
        return {**rec, "state": SCORED, "predicted": parsed.letter, "read_by": "rule",
                "correct": parsed.letter == quiz["correct_option"]}
    if grader is None:
        return {**rec, "state": UNSCORED,
                "reason": f"reply not readable by rule ({parsed.status}: no final 'Answer: X', lone letter or exact "
                          "option text); a grader model (--grader) reads such replies"}
    prompt = render_prompt("letter_grader", question=quiz["question"].strip(), options=format_options(quiz),
                           reply=defang(out.text), letters=_letters_text(letters))
    asked = await _calls.ask_parsed(grader, _calls.user_message(prompt), lambda t: parse_grader_letter(t, letters),
                                    expected=f"Answer: X (X one of {_letters_text(letters)}), or Answer: NONE",
                                    prompt_version=prompt_version("letter_grader"), **GRADER_PARAMS)
    rec["grader_calls"] += asked.calls
    _calls.add_usage(rec["usage"], asked.usage)
    rec.update(grader_raw=asked.text, grader_reasks=asked.reasks)
    if asked.error:
        return {**rec, "state": UNSCORED, "reason": _calls.error_reason("letter grader call failed", asked.error)}
    if asked.value is None:
        return {**rec, "state": UNSCORED,
                "reason": f"letter grader reply unparsable after {asked.reasks} re-ask(s): {asked.why}"}
    letter = None if asked.value == "NONE" else asked.value
    return {**rec, "state": SCORED, "predicted": letter, "read_by": "grader", "correct": letter == quiz["correct_option"]}


async def _verify_upstream(quiz: dict[str, Any], reply: str, grader: Any, rec: dict[str, Any],
                           decoding: str) -> dict[str, Any]:
    """Upstream's verification contract (switch ``quiz_grader="llm"``): the grader sees the quiz as upstream
    formatted it, the correct letter and the reply, and answers a JSON ``is_correct``."""
    quiz_text = f"{quiz['question']}\nOptions:\n" + "\n".join(f"{k}: {v}" for k, v in quiz["options"].items()
                                                             if v is not None)
    prompt = render_prompt("quiz_verifier", quiz=defang(quiz_text), correct=quiz["correct_option"],
                           reply=defang(reply.strip()))
    params = UPSTREAM_GRADER_PARAMS if decoding == "upstream" else GRADER_PARAMS
    out = await _calls.acall(grader, _calls.user_message(prompt), prompt_version=prompt_version("quiz_verifier"),
                             **params)
    rec["grader_calls"] += out.calls
    _calls.add_usage(rec["usage"], out.usage)
    rec["grader_raw"] = out.text
    if out.error:  # upstream dropped the whole image and retried it on the next run
        return {**rec, "state": UNSCORED, "reason": _calls.error_reason("verification call failed", out.error)}
    value, note = read_upstream_verification(out.text)
    return {**rec, "state": SCORED, "predicted": None, "read_by": "grader", "correct": value,
            "upstream_note": note}


def read_upstream_verification(text: str | None) -> tuple[float, str | None]:
    """``is_correct`` as upstream's ``quiz.py`` reads it and pandas then sums it (PROTOCOL §2.2).

    Upstream strips the reply, deletes every ```` ```json ```` and ```` ``` ````, parses the rest as JSON and takes
    ``.get("is_correct", 0)`` as it is; any exception (not JSON, not an object) gives 0. The value goes through a
    CSV into a pandas sum: numbers count as they are (``0.5`` adds half a point, ``2`` two), ``true``/``false``
    as 1/0, ``null`` as nothing (0, the quiz still counts in the denominator), numeric strings as their number.
    A non-numeric string would make upstream's sum fail; it is counted 0 here and noted.

    >>> read_upstream_verification('```json\\n{"is_correct": 1, "reasoning": "ok"}\\n```')
    (1.0, None)
    >>> read_upstream_verification('The answer is correct.')[0]
    0.0
    """
    clean = (text or "").strip().replace("```json", "").replace("```", "").strip()
    try:
        value = json.loads(clean).get("is_correct", 0)
    except Exception:  # noqa: BLE001 - upstream's bare except: any failure is 0
        return 0.0, "verification reply unparsable: upstream counts it 0"
    if isinstance(value, bool):
        return float(value), None
    if isinstance(value, (int, float)):
        return (0.0, "is_correct is NaN: upstream's sum skips it") if value != value else (float(value), None)
    if value is None:
        return 0.0, "is_correct is null: upstream's sum skips it"
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "false"):
            return float(word == "true"), None
        try:
            return float(word), None
        except ValueError:
            pass
    return 0.0, f"is_correct={value!r} is not numeric: upstream's pandas sum would fail on it"


def quiz_item(problem: dict[str, Any], image: _calls.ImageLike | None, answerer: Any, *, grader: Any = None,
              blind: bool = False, missing_reason: str = "no image", quiz_grader: str = "rule",
              options: str = "repaired", image_encoding: str = "default", corrupted: str = "default",
              decoding: str = "default") -> ItemResult:
    """Answer every quiz of one item and grade it (synchronous :func:`aquiz_item`; see it for the arguments)."""
    return _calls.run_sync(aquiz_item(problem, image, answerer, grader=grader, blind=blind,
                                      missing_reason=missing_reason, quiz_grader=quiz_grader, options=options,
                                      image_encoding=image_encoding, corrupted=corrupted, decoding=decoding))


async def aquiz_item(problem: dict[str, Any], image: _calls.ImageLike | None, answerer: Any, *, grader: Any = None,
                     blind: bool = False, missing_reason: str = "no image", quiz_grader: str = "rule",
                     options: str = "repaired", image_encoding: str = "default", corrupted: str = "default",
                     decoding: str = "default") -> ItemResult:
    """Answer every quiz of one item and grade it; the quizzes are asked concurrently (each call still counts
    against the backend's limits).

    The item is *scored* when at least one scorable quiz got a valid grade: ``details`` holds ``n_quizzes``
    (scorable), ``n_graded``, ``n_correct``, ``n_unscored_quizzes`` and every quiz's record; ``score`` =
    ``n_correct / n_graded``. A quiz whose answer or grading failed is left out of micro accuracy only, and then
    the item's ``details["perfect"]`` is ``None`` (unscored) unless a graded quiz is already wrong. The item is
    *unscored* when no quiz could be graded, *missing* without an image (except in blind mode, which needs none;
    an undecodable image is missing too), and *not_applicable* when no quiz is scorable.

    Upstream-compatible switches (results labelled ``protocol="upstream-compat"`` with the active switches):
    ``quiz_grader="llm"`` (needs ``grader``) verifies every reply with upstream's JSON ``is_correct`` contract
    (and, like upstream, a failed call leaves the whole item out); ``options="raw"`` asks the stored, unrepaired
    options (:func:`raw_quiz`); ``image_encoding="upstream"`` sends upstream's JPEG bytes; ``corrupted="upstream"``
    reads an undecodable image as upstream's loader does ("image not found": missing); ``decoding="upstream"``
    uses upstream's decoding parameters.
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
                             corrupted=corrupted, blind=blind, decoding=decoding)
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
            result = _calls.corrupted_result(exc, corrupted, base)
            result.details = {"n_quizzes": n_scorable}
            return result
    async def one(quiz: dict[str, Any]) -> dict[str, Any]:
        ok, why = _is_scorable(quiz)
        if not ok:
            return {"state": NOT_APPLICABLE, "reason": why, "calls": 0, "grader_calls": 0, "usage": {}}
        return await aanswer_quiz(quiz, data, answerer, grader, blind=blind, always_grade=quiz_grader == "llm",
                                  decoding=decoding)

    records = list(await asyncio.gather(*(one(q) for q in quizzes)))
    usage: dict[str, float] = {}
    for index, rec in enumerate(records):
        rec["index"] = index
        _calls.add_usage(usage, rec["usage"])
    graded = [r for r in records if r["state"] == SCORED]
    failed = [r for r in records if r["state"] == UNSCORED]
    n_correct = sum(r["correct"] for r in graded)  # an int; upstream-compat is_correct values may be floats
    upstream = decoding == "upstream"
    details = {"quizzes": records, "n_quizzes": n_scorable, "n_graded": len(graded), "n_correct": n_correct,
               "n_unscored_quizzes": len(failed),
               "params": UPSTREAM_QUIZ_PARAMS if upstream else QUIZ_PARAMS,
               "grader_params": UPSTREAM_GRADER_PARAMS if upstream else GRADER_PARAMS,
               "answer_calls": sum(r["calls"] for r in records),
               "grader_calls": sum(r["grader_calls"] for r in records),
               "read_by": {way: sum(r.get("read_by") == way for r in graded) for way in ("rule", "grader")}}
    base.update(calls=details["answer_calls"] + details["grader_calls"], usage=usage,
                raw=(records[-1].get("raw") if records else None))
    reasons = "; ".join(f"quiz {r['index']}: {r['reason']}" for r in failed)
    if failed and (not graded or quiz_grader == "llm"):  # upstream dropped an image when any of its calls failed
        return ItemResult(state=UNSCORED, reason=f"{len(failed)} of {n_scorable} quizzes unscored: {reasons}"[:800],
                          details=details, **base)
    if failed:
        details["unscored_quizzes"] = reasons[:800]
    # perfect: every quiz right (upstream: the mean of is_correct is exactly 1); unknown while one is unscored,
    # unless a graded quiz is already wrong
    all_right = n_correct == len(graded)
    details["perfect"] = None if failed and all_right else (all_right and not failed)
    return ItemResult(state=SCORED, score=n_correct / len(graded), details=details, **base)


def quiz_switches(*, quiz_grader: str = "rule", options: str = "repaired", image_encoding: str = "default",
                  corrupted: str = "default", blind: bool = False, decoding: str = "default") -> list[str]:
    """The active compatibility switches of a quiz evaluation, as recorded with each result."""
    active = [f"quiz_grader={quiz_grader}"] if quiz_grader != "rule" else []
    active += ["options=raw"] if options == "raw" else []
    active += ["decoding=upstream"] if decoding == "upstream" else []
    if not blind:  # blind quizzes send no image: encoding and corruption do not apply
        active += ["image_encoding=upstream"] if image_encoding == "upstream" else []
        active += ["corrupted=upstream"] if corrupted == "upstream" else []
    return active


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
