"""Code checks on constructed items: quiz evidence, distinct options, quizzes that ask for the answer, answer
leaks in the rewritten question, and the balancing of correct letters.

All checks are deterministic and work on normalised text (:func:`normalise_text`): Unicode NFKC, lower case,
LaTeX and WebInstruct markup (``$``, ``\\(``, ``{eq}``) removed, whitespace collapsed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: the letters a constructed quiz offers
QUIZ_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
#: answers too generic for a leak search ("yes" appears in many questions without giving anything away)
_GENERIC_ANSWERS = {"yes", "no", "true", "false", "none", "zero"}
_MARKUP = re.compile(r"\{/?eq\}|\\[()\[\]]|\$|\\(?:text|mathrm|mathbf|rm|mbox)\b|\\,|\\;|\\!|[{}]")
_NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:[.,]\d+)*(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")


def normalise_text(text: Any) -> str:
    """Text as the checks compare it (see module docstring)."""
    text = unicodedata.normalize("NFKC", str(text or ""))
    text = _MARKUP.sub(" ", text).replace("−", "-").replace("’", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text.lower()).strip()


def evidence_in_question(evidence: str, question: str) -> bool:
    """True when the evidence snippet occurs in the question after normalisation (pieces around an ellipsis
    each occur, in order; surrounding quotes and end punctuation are ignored)."""
    haystack = normalise_text(question)
    pieces = [normalise_text(p).strip(" \"'.,;:") for p in _ELLIPSIS.split(str(evidence or ""))]
    pieces = [p for p in pieces if p]
    if not pieces:
        return False
    position = 0
    for piece in pieces:
        found = haystack.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return True


_FRACTION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)(?![\w.])")
#: values too common to tell a solved quantity from a given one (origins, unit factors)
_TRIVIAL = {repr(0.0), repr(1.0), repr(-1.0)}


def numbers_in(text: str) -> set[str]:
    """The numbers written in ``text``, canonicalised (``"2.50"`` and ``"2.5"`` are one number; a fraction
    ``4/5`` is the one number 0.8)."""
    out = set()
    text = normalise_text(text)

    def fraction(match: re.Match[str]) -> str:
        denominator = float(match.group(2))
        if denominator:
            out.add(repr(float(match.group(1)) / denominator))
        return " "

    text = _FRACTION.sub(fraction, text)
    for raw in _NUMBER.findall(text):
        value = raw.replace("−", "-").replace(",", "")
        try:
            out.add(repr(float(value)))
        except ValueError:
            continue
    return out


def asks_final_answer(quiz: dict[str, Any], question: str, answer: str) -> bool:
    """True when the quiz's correct option is the problem's final answer (or part of a multi-part answer).

    Text: the option equals the answer after normalisation, or the answer checker finds them equivalent.
    Numbers: every number in the correct option is a number of the answer that the question does not state
    (numbers stated in the question are given values, which quizzes are meant to ask about).
    """
    correct = (quiz.get("options") or {}).get(quiz.get("correct_option") or "")
    if not correct:
        return False
    if normalise_text(correct) == normalise_text(answer):
        return True
    option_numbers = numbers_in(correct) - _TRIVIAL
    solved = numbers_in(answer) - numbers_in(question)
    if option_numbers and option_numbers <= solved:
        return True
    if not numbers_in(correct):
        from scigenbench.metrics.equivalence import answers_equivalent

        try:
            return bool(answers_equivalent(str(correct), str(answer)))
        except Exception:  # noqa: BLE001 - the checker is conservative; a failure proves nothing
            return False
    return False


def quiz_defects(quiz: dict[str, Any], question: str, answer: str) -> list[str]:
    """Why a constructed quiz cannot be used (empty when it passes every check)."""
    defects = []
    if not str(quiz.get("question") or "").strip():
        defects.append("no_question")
    options = quiz.get("options") or {}
    texts = [str(options.get(letter) or "").strip() for letter in QUIZ_LETTERS]
    if sorted(k for k, v in options.items() if v is not None and str(v).strip()) != list(QUIZ_LETTERS):
        defects.append("options_not_A_to_D")
    normalised = [normalise_text(t) for t in texts if t]
    if len(set(normalised)) != len(normalised):
        defects.append("options_not_distinct")
    if quiz.get("correct_option") not in QUIZ_LETTERS or not options.get(quiz.get("correct_option")):
        defects.append("correct_option_not_offered")
    evidence = str(quiz.get("evidence_snippet") or "").strip()
    if not evidence:
        defects.append("no_evidence")
    elif not evidence_in_question(evidence, question):
        defects.append("evidence_not_in_question")
    if "correct_option_not_offered" not in defects and asks_final_answer(quiz, question, answer):
        defects.append("asks_final_answer")
    return defects


def answer_leak(text: str, answer: str, question: str = "") -> str | None:
    """What of the final answer appears in ``text`` (a rewritten question), or ``None``.

    The whole answer (normalised, word-bounded) is searched when it is distinctive (not one letter, not
    yes/no); each number of the answer that the original ``question`` does not state is searched as a
    standalone number. Numbers the question states are given values, not a leak.
    """
    haystack = normalise_text(text)
    whole = normalise_text(answer).strip(" .")
    if len(whole) >= 2 and whole not in _GENERIC_ANSWERS and not re.fullmatch(r"[a-e]", whole):
        if re.search(rf"(?<![\w]){re.escape(whole)}(?![\w])", haystack):
            return f"the answer {answer.strip()!r}"
    leaked = sorted((numbers_in(answer) - numbers_in(question)) & numbers_in(text))
    if leaked:
        return "the answer's value(s) " + ", ".join(_show_number(n) for n in leaked)
    return None


def _show_number(canonical: str) -> str:
    value = float(canonical)
    return str(int(value)) if value.is_integer() else str(value)


def rebalance_quiz(quiz: dict[str, Any], target: str) -> dict[str, Any]:
    """The quiz with its options permuted so that the correct option sits at ``target``.

    The other options keep their relative order in the remaining slots. The permutation is recorded under
    ``"rebalanced"``: ``{"from": old letter, "to": new letter, "order": [old letter shown at A, at B, ...]}``.
    """
    options = quiz["options"]
    letters = [letter for letter in QUIZ_LETTERS if options.get(letter) is not None]
    correct = quiz["correct_option"]
    if target not in letters or correct not in letters:
        return quiz
    others = [letter for letter in letters if letter != correct]
    order = others[:letters.index(target)] + [correct] + others[letters.index(target):]
    new_options = {new: options[old] for new, old in zip(letters, order)}
    return {**quiz, "options": new_options, "correct_option": target,
            "rebalanced": {"from": correct, "to": target, "order": order}}


def target_letter(item_index: int, quiz_index: int, n_letters: int = len(QUIZ_LETTERS)) -> str:
    """The balanced correct letter of quiz ``quiz_index`` of the input row at ``item_index``.

    Consecutive letters from an offset that cycles with the row index: an item's quizzes get distinct letters,
    and over any 4 consecutive rows each letter is correct equally often, whatever the input's letters were.
    """
    return QUIZ_LETTERS[(item_index + quiz_index) % n_letters]


def letter_counts(quizzes: list[dict[str, Any]]) -> dict[str, int]:
    """Correct letters counted over ``quizzes``."""
    counts = {letter: 0 for letter in QUIZ_LETTERS}
    for quiz in quizzes:
        letter = quiz.get("correct_option")
        if letter in counts:
            counts[letter] += 1
    return counts
