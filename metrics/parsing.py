"""Deterministic parsers for model replies: judge verdicts, quiz letters and grader verdicts.

Each parser returns a value or ``None`` plus a reason: a reply that cannot be read is *unscored* by the caller,
never silently turned into 0 or "incorrect" (PROTOCOL §4).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: the five judge dimensions (PROTOCOL §2.1), in leaderboard order, with their short labels
JUDGE_DIMENSIONS = {
    "Correctness_Fidelity": "C&F",
    "Layout_Precision": "L&P",
    "Readability_Occlusion": "R&O",
    "Scientific_Plausibility": "SP",
    "Expressiveness_Richness": "E&R",
}
JUDGE_VALUES = (0, 1, 2)

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)


def strip_reasoning(text: str | None) -> str:
    """The reply without closed ``<think>…</think>`` (or ``<thinking>``/``<reasoning>``) blocks: drafts inside a
    reasoning trace are not the model's answer. An unclosed block is kept (the reply may be all reasoning)."""
    return _THINK.sub(" ", text or "")


@dataclass
class JudgeParse:
    scores: dict[str, int] | None
    reason: str | None = None


def _json_objects(text: str) -> list[tuple[int, Any]]:
    """Every decodable JSON object in ``text`` with its start offset (fenced or not)."""
    decoder = json.JSONDecoder()
    found = []
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            found.append((match.start(), obj))
    return found


def parse_judge(text: str | None) -> JudgeParse:
    """Read the judge's verdict: the LAST well-formed JSON object holding the 5 keys, each an integer in {0,1,2}.

    Objects nested in a larger object are considered too, so ``{"scores": {...}}`` works; extra keys are ignored.
    Closed ``<think>`` blocks are skipped (a draft verdict there is not the answer). Accepted values: the integers
    0, 1, 2, the same written as integral floats (``2.0``) or quoted (``"2"``); booleans, ``1.5``, words and
    anything out of range make the reply unscored.

    >>> parse_judge('ok ```json\\n{"Correctness_Fidelity": 2, "Layout_Precision": 1, "Readability_Occlusion": 2, '
    ...             '"Scientific_Plausibility": 2, "Expressiveness_Richness": 0}\\n```').scores["Layout_Precision"]
    1
    >>> parse_judge('{"Correctness_Fidelity": 3}').reason
    'no JSON object with the 5 judge keys (last object has keys: Correctness_Fidelity)'
    """
    text = strip_reasoning(text)
    if not text.strip():
        return JudgeParse(None, "empty judge reply")
    objects = _json_objects(text)
    if not objects:
        return JudgeParse(None, "no JSON object in judge reply")
    for _, obj in reversed(objects):
        if set(JUDGE_DIMENSIONS) <= set(obj):
            return _validate_judge(obj)
    keys = ", ".join(sorted(map(str, objects[-1][1])))[:200]
    return JudgeParse(None, f"no JSON object with the 5 judge keys (last object has keys: {keys})")


def _validate_judge(obj: dict[str, Any]) -> JudgeParse:
    scores = {}
    for key in JUDGE_DIMENSIONS:
        value = obj[key]
        if isinstance(value, str) and value.strip() in {"0", "1", "2"}:
            value = int(value.strip())
        if isinstance(value, float) and value in JUDGE_VALUES:  # 2.0 is the integer 2 written as a JSON float
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value not in JUDGE_VALUES:
            return JudgeParse(None, f"judge value out of range: {key}={value!r} (expected an integer 0, 1 or 2)")
        scores[key] = value
    return JudgeParse(scores)


def parse_judge_fence_only(text: str | None) -> JudgeParse:
    """Upstream-compatible parse (switch ``judge_parse="fence_only"``, lossy): the FIRST fenced json block,
    a missing key counts 0, no range check. Unparsable still gives unscored (upstream retried forever)."""
    match = _FENCE.search(text or "")
    if not match:
        return JudgeParse(None, "no fenced json block (fence_only parse)")
    try:
        obj = json.loads(match.group(1))
    except ValueError as exc:
        return JudgeParse(None, f"fenced block is not JSON: {exc}")
    if not isinstance(obj, dict):
        return JudgeParse(None, "fenced block is not a JSON object")
    scores = {}
    for key in JUDGE_DIMENSIONS:
        try:
            scores[key] = int(obj.get(key, 0))
        except (TypeError, ValueError):
            scores[key] = 0
    return JudgeParse(scores)


# --- quiz letters -------------------------------------------------------------------------------------------

@dataclass
class LetterParse:
    """Result of reading an option letter from a free-form answer.

    ``status`` is ``"answer_line"`` (a final ``Answer: X``), ``"single"`` (one distinct offered letter),
    ``"option_text"`` (the reply is one option's text), ``"ambiguous"`` (several distinct letters, no answer line;
    ``letter`` holds the last one) or ``"none"`` (no offered letter).
    """

    letter: str | None
    status: str

    @property
    def decided(self) -> bool:
        return self.status in {"answer_line", "single", "option_text"}


# "Answer: c" / "answer is (c)" / "The answer is C.". After a colon or in brackets any case is accepted; else only a
# capital letter, so "cannot answer a question" or "the answer is a 3 cm shift" never read as option A.
_ANSWER_LINE = re.compile(
    r"\banswer\s*(?:is\s*)?(?:[:：]\s*[\*\s]*[\(\[]?\s*([A-Ea-e])|[\*\s]*[\(\[]\s*([A-Ea-e])\s*[\)\]]"
    r"|[\*\s]*((?-i:[A-E])))"
    r"\s*[\)\]]?[\*\s]*(?=[.:)\-,;]|$|\s)",
    re.I | re.M)
_BARE_LETTER = re.compile(r"[\s*_`(\[]*(?:option\s+)?([A-Ea-e])[\s*_`)\].:]*", re.I)


_AFTER_OPTION_LETTER = {"or", "and", "is", "was", "seems", "looks", "appears", "fits", "matches", "because",
                        "since", "but", "nor", "vs", "versus", "would", "could", "should", "must", "best", "only"}


def _standalone_letters(text: str, offered: list[str]) -> list[str]:
    """Capital offered letters that stand alone (not part of a word, not the article "A word", not "I ...")."""
    letters = []
    pattern = re.compile(r"(?<![A-Za-z0-9_'’])([A-E])(?![A-Za-z0-9_'’])")
    for match in pattern.finditer(text):
        letter = match.group(1)
        # "A ball rolls": the article, not an option ("A or C", "A is right" still count)
        following = re.match(r" ([a-z]+)", text[match.end():match.end() + 20])
        if letter == "A" and following and following.group(1) not in _AFTER_OPTION_LETTER:
            continue
        if letter in offered:
            letters.append(letter)
    return letters


def _normalise(text: str) -> str:
    return re.sub(r"[\s.*`$]+", " ", text).strip().lower()


def extract_letter(text: str | None, offered: list[str], options: dict[str, str | None] | None = None
                   ) -> LetterParse:
    """Read the chosen option from a quiz reply by rule (PROTOCOL §4 "Quiz grading").

    Order: the last ``Answer: X`` line naming an offered letter; else the reply is exactly one option's text;
    else the standalone offered letters (one distinct letter → decided, several → ambiguous).

    >>> extract_letter("The arrow points left.\\nAnswer: C", ["A", "B", "C", "D"]).letter
    'C'
    >>> extract_letter("Either B or D, hard to say", ["A", "B", "C", "D"]).status
    'ambiguous'
    >>> extract_letter("I cannot see the figure.", ["A", "B", "C", "D"]).status
    'none'
    """
    text = strip_reasoning(text).strip()
    if not text:
        return LetterParse(None, "none")
    bare = _BARE_LETTER.fullmatch(text)  # the whole reply is one letter: "c", "(C)", "**B**", "Option d."
    if bare and bare.group(1).upper() in offered:
        return LetterParse(bare.group(1).upper(), "single")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        matches = [next(g for g in m.groups() if g).upper() for m in _ANSWER_LINE.finditer(line)]
        matches = [m for m in matches if m in offered]
        if matches:
            return LetterParse(matches[-1], "answer_line")
    if options:
        reply = _normalise(text)
        for letter in offered:
            value = options.get(letter)
            if value and _normalise(str(value)) == reply:
                return LetterParse(letter, "option_text")
    letters = _standalone_letters(text, offered)
    if not letters:
        return LetterParse(None, "none")
    if len(set(letters)) == 1:
        return LetterParse(letters[-1], "single")
    return LetterParse(letters[-1], "ambiguous")


def parse_grader_letter(text: str | None, offered: list[str]) -> tuple[str | None, str | None]:
    """Read the letter-matching grader's reply: its last line must be ``Answer: X`` (an offered letter) or
    ``Answer: NONE``. Returns ``(letter_or_"NONE", None)`` or ``(None, reason)``."""
    lines = [ln.strip() for ln in strip_reasoning(text).splitlines() if ln.strip()]
    if not lines:
        return None, "empty grader reply"
    match = re.fullmatch(r"[\*\s]*answer\s*[:：]\s*\**\s*\(?([A-Ea-e]|NONE|none|None)\)?\s*\**\.?", lines[-1], re.I)
    if not match:
        return None, f"grader's last line is not 'Answer: X' or 'Answer: NONE': {lines[-1][:120]!r}"
    value = match.group(1).upper()
    if value != "NONE" and value not in offered:
        return None, f"grader chose {value!r}, which is not an offered letter {offered}"
    return value, None


# --- R_inv grader verdict -----------------------------------------------------------------------------------

VERDICTS = ("CORRECT", "INCORRECT", "INVALID")


def parse_verdict(text: str | None) -> tuple[str | None, str | None]:
    """Strict final-line parse of the R_inv grader: the last non-empty line must be ``Verdict: CORRECT``,
    ``Verdict: INCORRECT`` or ``Verdict: INVALID`` (markdown emphasis tolerated). No fallback that could read the
    "C" of "CORRECT" (upstream defect 14).

    >>> parse_verdict("The values agree.\\nVerdict: CORRECT")
    ('CORRECT', None)
    >>> parse_verdict("It is correct.")[0] is None
    True
    """
    lines = [ln.strip() for ln in strip_reasoning(text).splitlines() if ln.strip()]
    if not lines:
        return None, "empty grader reply"
    last = lines[-1].replace("*", "").replace("`", "").strip()
    match = re.fullmatch(r"(?:final\s+)?verdict\s*[:：]\s*(CORRECT|INCORRECT|INVALID)\s*\.?", last, re.I)
    if not match:
        return None, f"grader's last line is not 'Verdict: CORRECT|INCORRECT|INVALID': {lines[-1][:120]!r}"
    return match.group(1).upper(), None
