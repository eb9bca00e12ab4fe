"""Deterministic parsers: judge verdicts, quiz letters, grader verdicts, answer equivalence."""

import json

import pytest

from scigenbench.metrics.equivalence import answers_equivalent
from scigenbench.metrics.parsing import (
    JUDGE_DIMENSIONS, extract_letter, parse_grader_letter, parse_judge, parse_judge_fence_only, parse_verdict,
)

KEYS = list(JUDGE_DIMENSIONS)


def verdict(*values):
    return json.dumps(dict(zip(KEYS, values)))


def test_judge_takes_the_last_well_formed_object():
    text = f"Example: {verdict(0, 0, 0, 0, 0)}\nMy verdict:\n```json\n{verdict(2, 1, 2, 1, 0)}\n```"
    assert parse_judge(text).scores == dict(zip(KEYS, [2, 1, 2, 1, 0]))


def test_judge_reads_an_unfenced_object_after_reasoning():
    assert parse_judge("C&F is fine {not json}. " + verdict(1, 1, 1, 1, 1)).scores["Layout_Precision"] == 1


def test_judge_last_object_with_bad_value_is_unscored_not_the_earlier_one():
    text = verdict(2, 2, 2, 2, 2) + " corrected: " + verdict(3, 2, 2, 2, 2)
    parsed = parse_judge(text)
    assert parsed.scores is None and "out of range" in parsed.reason


@pytest.mark.parametrize("bad", [1.5, True, "high", None, -1])
def test_judge_rejects_non_integer_values(bad):
    assert parse_judge(verdict(2, bad, 2, 2, 2)).scores is None


def test_judge_missing_key_is_unscored():
    obj = dict(zip(KEYS[:4], [2, 2, 2, 2]))
    assert parse_judge(json.dumps(obj)).scores is None


def test_fence_only_compat_counts_missing_key_as_zero():
    obj = dict(zip(KEYS[:4], [2, 2, 2, 2]))
    assert parse_judge_fence_only(f"```json\n{json.dumps(obj)}\n```").scores["Expressiveness_Richness"] == 0


@pytest.mark.parametrize("reply,letter,status", [
    ("The current flows clockwise.\nAnswer: B", "B", "answer_line"),
    ("**Answer:** (C)", "C", "single"),
    ("A ball falls. The answer is D.", "D", "answer_line"),
    ("D", "D", "single"),
    ("Option B looks right", None, "ambiguous"),       # a mention, not a standard statement: the grader reads it
    ("A or C, I am not sure", None, "ambiguous"),
    ("I cannot see the figure.", None, "none"),
    ("", None, "none"),
])
def test_extract_letter(reply, letter, status):
    parsed = extract_letter(reply, ["A", "B", "C", "D"])
    assert (parsed.letter, parsed.status) == (letter, status)


def test_extract_letter_ignores_letters_not_offered():
    assert not extract_letter("Answer: E", ["A", "B", "C", "D"]).decided
    assert extract_letter("Answer: E", ["A", "B", "C", "D", "E"]).letter == "E"


def test_extract_letter_matches_option_text():
    parsed = extract_letter("45°", ["A", "B"], {"A": "30°", "B": "45°"})
    assert (parsed.letter, parsed.status) == ("B", "option_text")


def test_grader_letter_requires_final_line():
    assert parse_grader_letter("reasoning\nAnswer: C", ["A", "B", "C", "D"]) == ("C", None)
    assert parse_grader_letter("Answer: NONE", ["A", "B"]) == ("NONE", None)
    assert parse_grader_letter("I think C", ["A", "B", "C"])[0] is None
    assert parse_grader_letter("Answer: E", ["A", "B", "C", "D"])[0] is None


@pytest.mark.parametrize("reply,expected", [
    ("analysis\nVerdict: CORRECT", "CORRECT"),
    ("analysis\n**Verdict: INCORRECT**", "INCORRECT"),
    ("Verdict: invalid", "INVALID"),
    ("The answer is CORRECT", None),          # upstream read the "C" of CORRECT here
    ("Verdict: CORRECT\nbut actually no", None),
    ("", None),
])
def test_verdict_parse_is_strict(reply, expected):
    assert parse_verdict(reply)[0] == expected


@pytest.mark.parametrize("candidate,gold,same", [
    ("0.5", "1/2", True),
    ("$\\frac{\\sqrt{3}}{2}$", "sqrt(3)/2", True),
    ("\\boxed{2\\pi}", "2*pi", True),
    ("9.81 m/s^2", "9.8 m/s^2", True),
    ("12 N", "12 N", True),
    ("12 N", "13 N", False),
    ("3", "4", False),
    ("x^2 + 2x + 1", "(x+1)^2", True),
    ("__import__('os').system('true')", "0", False),
    ("5 m/s", "500 cm/s", False),   # not provable here: goes to the grader
])
def test_answers_equivalent(candidate, gold, same):
    assert answers_equivalent(candidate, gold) is same


# --- review fixes ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reply", [
    "I cannot answer a question about an image I cannot see.",
    "The answer is a 3 cm displacement.",
])
def test_refusal_mentioning_answer_a_is_not_read_as_option_a(reply):
    assert extract_letter(reply, ["A", "B", "C", "D"]).status == "none"


@pytest.mark.parametrize("reply,letter", [
    ("c", "C"), ("(c)", "C"), ("**b**", "B"), ("Option d.", "D"), ("The answer is (b)", "B"), ("answer: a", "A"),
    ("C) 3 cm", "C"), ("The answer is C.", "C"),
])
def test_lowercase_and_bare_letters_are_read(reply, letter):
    parsed = extract_letter(reply, ["A", "B", "C", "D"], {"A": "1 cm", "B": "2 cm", "C": "3 cm", "D": "4 cm"})
    assert parsed.decided and parsed.letter == letter


def test_letters_inside_a_think_block_are_ignored():
    parsed = extract_letter("<think>Maybe Answer: B? Or A.</think>\n**C**", ["A", "B", "C", "D"])
    assert (parsed.letter, parsed.status) == ("C", "single")


def test_judge_accepts_integral_floats_and_ignores_extra_keys():
    obj = dict(zip(KEYS, [2.0, 1, "0", 2, 1]), overall=1.2)
    assert parse_judge(json.dumps(obj)).scores == dict(zip(KEYS, [2, 1, 0, 2, 1]))


def test_judge_draft_inside_think_block_is_not_the_verdict():
    assert parse_judge(f"<think>draft {verdict(2, 2, 2, 2, 2)}</think> I cannot rate this.").scores is None
    text = f"<think>draft {verdict(0, 0, 0, 0, 0)}</think>\n```json\n{verdict(1, 2, 1, 2, 1)}\n```"
    assert parse_judge(text).scores == dict(zip(KEYS, [1, 2, 1, 2, 1]))


def test_verdict_after_a_think_block():
    assert parse_verdict("<think>Verdict: INCORRECT?</think>\nVerdict: CORRECT")[0] == "CORRECT"
    assert parse_verdict("Verdict: CORRECT\n<think>hmm</think>")[0] == "CORRECT"


@pytest.mark.parametrize("candidate,gold", [
    ("2", "1, 2"),            # a list is not its last element
    ("1,2", "12"),
    ("0", "6.67e-11"),        # no absolute tolerance: tiny constants are not 0
    ("1e-7", "0"),
])
def test_equivalence_never_settles_lists_or_tiny_numbers(candidate, gold):
    assert answers_equivalent(candidate, gold) is False


def test_equivalence_keeps_thousands_separators():
    assert answers_equivalent("1,000", "1000") is True


def test_equivalence_is_case_sensitive_except_for_choice_letters():
    assert answers_equivalent("5 MA", "5 mA") is False
    assert answers_equivalent("c", "C") is True
