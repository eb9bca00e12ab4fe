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
    """A judge verdict (``scores``) or why there is none. ``final``: no re-ask can help (upstream-compat: a row
    whose values are null or non-numeric is written and dropped from the means, not retried)."""

    scores: dict[str, float] | None
    reason: str | None = None
    final: bool = False


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


_UPSTREAM_FENCE = re.compile(r"```json\s*(.*?)```", re.S | re.I)


def parse_judge_fence_only(text: str | None) -> JudgeParse:
    """Upstream's judge parse (switch ``judge_parse="fence_only"``), as ``llm_as_judge.py`` and pandas do it.

    The FIRST ```` ```json ```` fence (tag in any case; untagged fences and other languages are skipped; the block
    ends at the next ```` ``` ````) is parsed with ``json.loads``. No such block, invalid JSON, an empty or falsy
    value (``{}``, ``[]``) or a non-object makes upstream ask again (here: a bounded re-ask, then unscored). Each key
    is read with ``.get(key, 0)`` (a missing key is 0) and kept as it is: floats stay floats, out-of-range values
    stay. The row then goes through a CSV and ``pd.to_numeric(errors="coerce")``: a null or non-numeric value
    makes it NaN and ``dropna`` drops the whole row from the means (here: unscored, ``final``, no re-ask).

    >>> parse_judge_fence_only('```JSON\\n{"Correctness_Fidelity": 1.5}\\n```').scores["Correctness_Fidelity"]
    1.5
    >>> parse_judge_fence_only('```json\\n{}\\n```').reason
    'empty JSON value {}: upstream asks again'
    """
    match = _UPSTREAM_FENCE.search(text or "")
    if not match:
        return JudgeParse(None, "no ```json fenced block: upstream asks again")
    try:
        obj = json.loads(match.group(1).strip())
    except ValueError as exc:
        return JudgeParse(None, f"fenced block is not JSON ({exc}): upstream asks again")
    if not obj:
        return JudgeParse(None, f"empty JSON value {json.dumps(obj)}: upstream asks again")
    if not isinstance(obj, dict):
        return JudgeParse(None, "fenced JSON is not an object: upstream's .get fails and it asks again")
    scores: dict[str, float] = {}
    for key in JUDGE_DIMENSIONS:
        value = _pandas_number(obj.get(key, 0))
        if value is None:
            return JudgeParse(None, f"{key}={obj.get(key)!r} is null or not a number: upstream's dropna drops the row",
                              final=True)
        scores[key] = value
    return JudgeParse(scores)


def _pandas_number(value: Any) -> float | None:
    """What ``pd.to_numeric(errors="coerce")`` makes of a JSON value written to and read back from a CSV cell:
    numbers and numeric strings are floats; null, booleans, words, lists and objects are NaN (``None``)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return None if value != value else float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return None if number != number else number
    return None


# --- quiz letters -------------------------------------------------------------------------------------------

@dataclass
class LetterParse:
    """Result of reading the chosen option from a free-form quiz reply by rule.

    ``status`` says how: decided readings are ``"single"`` (the reply is one letter: ``B``, ``(b)``, ``**C**``,
    ``Option D.``), ``"option_text"`` (the reply is exactly one option's text, or its label and text), ``"answer_line"``
    (the last line states the answer: ``Answer: X``, ``the answer is (X)``, ``\\boxed{X}``, …), ``"answer_phrase"``
    (such statements elsewhere, all naming the same letter) and ``"abstain"`` (``Answer: NONE``: the model chose no
    option). Undecided: ``"ambiguous"`` (letters or statements that disagree, or a letter mentioned without a
    standard statement) and ``"none"`` (no offered letter at all). ``letter`` is set only when decided.
    """

    letter: str | None
    status: str

    @property
    def decided(self) -> bool:
        return self.status in DECIDED


DECIDED = frozenset({"single", "option_text", "answer_line", "answer_phrase", "abstain"})

# an answer label: "Answer:", "Final answer -", "Correct option:", and the same in a few other languages
_LABEL = (r"(?:(?:final|correct|best)\s+)?(?:answer|option|choice)|respuesta|réponse|reponse|antwort|risposta|resposta"
          r"|ответ|答案|正确答案|最终答案|答|回答|解答|정답")
# after the letter: the end, or punctuation that cannot continue a word ("B because" and "C is 5 μF" are not read)
_AFTER = r"(?=\s*(?:$|[.,;:!?)\]」】]|\s[-–—]\s))"
_EM = r"(?:\*\*|__|`)?"
# "Answer: B", "**Final answer:** (c)", "答案：C", "Answer: Option D." (a label, a colon or dash, a letter)
_LABEL_STATEMENT = re.compile(
    rf"(?:^|[^\w])(?:{_LABEL})\s*{_EM}\s*(?:is\s*)?[:：\-–—]\s*{_EM}\s*(?:option\s+)?"
    rf"(?:[(\[]\s*(?P<x>[A-Ea-e])\s*[)\]]|(?P<y>[A-Ea-e]){_EM}{_AFTER})", re.I | re.M)
# "the answer is (b)", "The correct option is C.", "the answer is option D"
_PHRASE_STATEMENT = re.compile(
    r"\b(?:the\s+)?(?:(?:final|correct|right|best)\s+)?(?:answer|option|choice)\s+(?:is|would\s+be|=)\s*:?\s*"
    rf"{_EM}(?:option\s+)?(?:[(\[]\s*(?P<x>[A-Ea-e])\s*[)\]]|(?P<y>(?-i:[A-E])){_EM}{_AFTER})", re.I | re.M)
# \boxed{B}, \boxed{\text{B}}, \boxed{(B)}
_BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text(?:bf)?\s*\{\s*)?\(?(?P<x>[A-Ea-e])\)?\s*\}?\s*\}")
# a statement inside a condition or a negation is not the answer: "if the answer is A, ...", "not the answer is"
_HYPOTHETICAL = re.compile(r"\b(?:if|whether|suppose|supposing|assume|assuming|unless|were|not|isn't|wasn't)\b[^.;\n]*$",
                           re.I)
_ABSTAIN = re.compile(rf"^(?:\*\*|__)?(?:{_LABEL})\s*(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?\s*none\b[^\n]*$", re.I)
# the whole reply is one letter: "c", "(C)", "**B**", "Option d.", "Answer: B"
_BARE_LETTER = re.compile(r"[\s*_`(\[#]*(?:(?:option|answer|choice)\s*:?[\s*_`]*)?[(\[]?([A-Ea-e])[\s*_`)\].:]*", re.I)
# "B) 2 kg", "(B) 2 kg", "B: 2 kg", "B. 2 kg": a label and an option's text
_LABELLED = re.compile(r"[\s*_`]*[(\[]?([A-E])\s*[)\].:]\s*(.+?)[\s*_`]*", re.S)
_MENTION = re.compile(r"(?<![A-Za-z0-9_'’])([A-E])(?![A-Za-z0-9_'’])")
_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.I)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.I)


def _answer_text(text: str | None) -> str:
    """The part of a reply that can hold the answer: closed reasoning blocks removed, everything before a lone
    closing tag dropped (templates that print only ``</think>``), and an unclosed trailing block cut off."""
    text = strip_reasoning(text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end():]
    opened = _THINK_OPEN.search(text)
    if opened:
        text = text[:opened.start()]
    return text.strip()


def _same_text(a: str, b: str) -> bool:
    """Option text equality: exact and case-sensitive ("AaBb" is not "AABb"), modulo surrounding markdown,
    a final full stop and runs of whitespace."""
    def norm(t: str) -> str:
        t = re.sub(r"\s+", " ", t.strip().strip("*_`").strip())
        return t[:-1].rstrip() if t.endswith(".") and not t.endswith("..") else t
    return norm(a) == norm(b)


def _option_by_text(text: str, offered: list[str], options: dict[str, Any] | None) -> list[str]:
    if not options:
        return []
    return [k for k in offered if options.get(k) is not None and _same_text(str(options[k]), text)]


def _statements(line: str, offered: list[str], options: dict[str, Any] | None, *, last: bool) -> list[str]:
    """Letters named by standard answer statements in ``line`` (in order); "Answer: <an option's exact text>"
    names that option. On the last line any statement counts; elsewhere only a line that starts with an answer
    label, or a ``\\boxed{}`` (a "the answer is X" inside reasoning may be a hypothesis)."""
    found: list[tuple[int, str]] = []
    patterns = (_LABEL_STATEMENT, _PHRASE_STATEMENT, _BOXED) if last else (_LABEL_STATEMENT, _BOXED)
    for pattern in patterns:
        for m in pattern.finditer(line):
            label_at = m.start() + (0 if m.group(0)[:1].isalnum() else 1)
            if pattern is _LABEL_STATEMENT and not last and line[:label_at].strip(" \t*_#>-`"):
                continue  # a label in the middle of a reasoning line
            if _HYPOTHETICAL.search(line[:m.start()]):
                continue
            letter = (m.group("x") or m.groupdict().get("y") or "").upper()
            found.append((m.start(), letter))
    labelled = re.match(rf"^[\s*_#]*(?:{_LABEL})\s*(?:\*\*|__)?\s*[:：]\s*(.+)$", line.strip(), re.I)
    if labelled and not found:
        by_text = _option_by_text(labelled.group(1), offered, options)
        found += [(labelled.start(1), k) for k in by_text[:1]] if len(by_text) == 1 else []
    return [letter for _, letter in sorted(found)]


def extract_letter(text: str | None, offered: list[str], options: dict[str, str | None] | None = None
                   ) -> LetterParse:
    """Read the chosen option from a quiz reply by rule, deciding only when the choice is unambiguous.

    In order: a reply that is one letter; a reply that is exactly one option's text (case-sensitive), or its
    label and text; the last line's answer statement (``Answer: X``, ``the answer is (X)``, ``\\boxed{X}``,
    ``Respuesta: X``, …; several letters there are ambiguous); answer statements elsewhere when they all name one
    letter; an explicit ``Answer: NONE``. Anything else — a letter merely mentioned, statements that disagree,
    reasoning with no final statement — is *ambiguous* (a grader model, or without one the quiz is unscored).
    Reasoning inside ``<think>`` blocks is ignored. Letters not offered never count.

    >>> extract_letter("The arrow points left.\\nAnswer: C", ["A", "B", "C", "D"]).letter
    'C'
    >>> extract_letter("Option B is correct, because D and A contradict the figure", ["A", "B", "C", "D"]).status
    'ambiguous'
    >>> extract_letter("AABb", ["A", "B"], {"A": "AaBb", "B": "aaBb"}).status
    'none'
    """
    text = _answer_text(text)
    if not text:
        return LetterParse(None, "none")
    bare = _BARE_LETTER.fullmatch(text)
    by_text = _option_by_text(text, offered, options)
    if bare and bare.group(1).upper() in offered:
        if by_text and by_text != [bare.group(1).upper()]:  # "a" is letter A, and also option C's text "a"
            return LetterParse(None, "ambiguous")
        return LetterParse(bare.group(1).upper(), "single")
    if len(by_text) == 1:
        return LetterParse(by_text[0], "option_text")
    labelled = _LABELLED.fullmatch(text) if "\n" not in text else None
    if labelled and labelled.group(1) in offered and options:
        named = _option_by_text(labelled.group(2), offered, options)
        if named == [labelled.group(1)]:
            return LetterParse(named[0], "option_text")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    last = _statements(lines[-1], offered, options, last=True)
    if last:
        valid = {x for x in last if x in offered}
        if len(set(last)) == 1 and valid:
            return LetterParse(last[0], "answer_line")
        return LetterParse(None, "ambiguous")
    if _ABSTAIN.match(lines[-1].strip()):
        return LetterParse(None, "abstain")
    named = [x for line in lines[:-1] for x in _statements(line, offered, options, last=False)]
    if named:
        if len(set(named)) == 1 and named[0] in offered:
            return LetterParse(named[0], "answer_phrase")
        return LetterParse(None, "ambiguous")
    if any(m.group(1) in offered for m in _MENTION.finditer(text)) or any(
            options and options.get(k) and str(options[k]).strip() and str(options[k]).strip() in text
            for k in offered):
        return LetterParse(None, "ambiguous")
    return LetterParse(None, "none")


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
    >>> parse_verdict("INCORRECT")
    ('INCORRECT', None)
    """
    lines = [ln.strip() for ln in strip_reasoning(text).splitlines() if ln.strip()]
    if not lines:
        return None, "empty grader reply"
    last = lines[-1].replace("*", "").replace("`", "").strip()
    alone = re.fullmatch(r"[\s\"'(\[]*(CORRECT|INCORRECT|INVALID)[\s\"')\].!]*", " ".join(lines).replace("*", ""), re.I)
    if alone:  # the whole reply is one verdict word: that is the verdict
        return alone.group(1).upper(), None
    match = re.fullmatch(r"(?:final\s+)?verdict\s*[:：]\s*(CORRECT|INCORRECT|INVALID)\s*\.?", last, re.I)
    if not match:
        return None, f"grader's last line is not 'Verdict: CORRECT|INCORRECT|INVALID': {lines[-1][:120]!r}"
    return match.group(1).upper(), None


def upstream_judgment(text: str | None) -> str:
    """Upstream's ``process_judgment`` (``src/eval/prompts.py``), defects included, in our own code: the last
    ``boxed{A-C}``; else the reply itself if it is exactly ``A``, ``B`` or ``C``; else, in the text after the last
    ``"Final Judgment:"``, the last ``(X`` and failing that the last bare ``A``-``C`` character anywhere — which
    reads a bare ``REFUSAL`` as ``A`` (its last A-C letter) and ``CORRECT``/``INCORRECT`` through their ``C``; else
    ``""``. Upstream counts the item correct only for ``"A"``.

    >>> upstream_judgment("Final Judgment: \\\\boxed{A} - CORRECT"), upstream_judgment("REFUSAL"), upstream_judgment("CORRECT")
    ('A', 'A', 'C')
    """
    text = text or ""
    boxed = re.findall(r"boxed{([A-C])}", text)
    if boxed:
        return boxed[-1]
    if text in ("A", "B", "C"):
        return text
    tail = text.split("Final Judgment:")[-1]
    for pattern in (r"\(([A-C])\)*", r"([A-C])"):
        found = re.findall(pattern, tail)
        if found:
            return found[-1]
    return ""


def strict_judgment(text: str | None) -> str | None:
    """What upstream's grader meant, read strictly: a final line ``Final Judgment: \\boxed{X}`` (X in A-C)."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if not lines:
        return None
    match = re.search(r"final\s+judgment\s*:?\s*\$?\\boxed\{\s*([A-C])\s*\}", lines[-1], re.I)
    return match.group(1).upper() if match else None
