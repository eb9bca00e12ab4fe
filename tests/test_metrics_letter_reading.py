"""Quiz letters are read by rule only when the choice is unambiguous; everything else goes to the grader, or is
unscored with the raw reply kept. A corpus of realistic replies (tests/fixtures/quiz_replies.json) is read with
zero misreads."""

import json
from pathlib import Path

import pytest

from scigenbench.metrics.parsing import extract_letter
from scigenbench.metrics.quiz import quiz_item
from scigenbench.metrics.specs import resolve_backend
from scigenbench.metrics.testing import png, toy_problem

CORPUS = json.loads((Path(__file__).parent / "fixtures" / "quiz_replies.json").read_text(encoding="utf-8"))


def _misread(entry) -> str | None:
    parsed = extract_letter(entry["reply"], entry["letters"], entry["options"])
    expected = entry["expected"]
    if parsed.status == "abstain":
        return None if expected == "abstain" else f"read as an abstention, intended {expected}"
    if parsed.decided and parsed.letter != expected:
        return f"read {parsed.letter} ({parsed.status}), intended {expected}"
    return None


def test_corpus_is_large_and_varied():
    assert len(CORPUS) >= 150
    notes = " ".join(e["note"] for e in CORPUS)
    for kind in ("think", "markdown", "5 options", "case-sensitive", "Chinese", "Spanish", "other letters"):
        assert kind in notes, kind
    assert sum(e["expected"] == "ambiguous" for e in CORPUS) >= 40


def test_corpus_has_zero_misreads_and_reports_the_share_read_by_rule(capsys):
    misreads = {e["reply"]: why for e in CORPUS if (why := _misread(e))}
    assert misreads == {}
    decided = [e for e in CORPUS if extract_letter(e["reply"], e["letters"], e["options"]).decided]
    share = len(decided) / len(CORPUS)
    answerable = [e for e in CORPUS if e["expected"] not in ("ambiguous",)]
    with capsys.disabled():
        print(f"\nletter corpus: {len(CORPUS)} replies, {len(decided)} decided by rule ({share:.0%}); "
              f"{len(decided)}/{len(answerable)} of those with an intended letter or abstention; 0 misreads")
    assert share >= 0.6


@pytest.mark.parametrize("reply", ["AABb", "AaBb", "aaBb", "AaBB"])
def test_options_that_differ_only_in_case_are_read_exactly(reply):
    options = {"A": "AaBb", "B": "AABb", "C": "aaBb", "D": "AaBB"}
    parsed = extract_letter(reply, list(options), options)
    assert parsed.decided and options[parsed.letter] == reply


def test_the_issue_example_is_not_read_as_d():
    parsed = extract_letter("Option B is correct, because D and A contradict the figure", ["A", "B", "C", "D"])
    assert not parsed.decided and parsed.letter is None


def _answerer(*replies):
    return resolve_backend("fake", responses=list(replies), cache=False)


def test_without_a_grader_an_unreadable_reply_is_unscored_with_the_raw_reply_kept():
    record = quiz_item(toy_problem("q", n_quizzes=2), png(), _answerer("Answer: B", "Maybe B, maybe D."))
    first, second = record.details["quizzes"]
    assert (first["state"], first["predicted"], first["read_by"]) == ("scored", "B", "rule")
    assert second["state"] == "unscored" and second["raw"] == "Maybe B, maybe D." and second["rule"] == "ambiguous"
    assert "not readable by rule" in second["reason"] and "predicted" not in second
    assert record.state == "scored" and record.details["n_graded"] == 1 and record.details["perfect"] is None


def test_the_grader_reads_what_the_rule_cannot_and_the_record_says_so():
    grader = _answerer("The reply settles on D.\nAnswer: D")
    record = quiz_item(toy_problem("q", n_quizzes=1), png(), _answerer("Maybe B, maybe D."), grader=grader)
    quiz = record.details["quizzes"][0]
    assert (quiz["predicted"], quiz["read_by"], quiz["rule"], quiz["correct"]) == ("D", "grader", "ambiguous", False)
    assert record.details["read_by"] == {"rule": 0, "grader": 1}


@pytest.mark.needs_upstream
def test_replying_an_options_exact_text_never_reads_another_option_on_all_of_scigen(upstream_dir):
    from scigenbench.dataset import load_scigenbench

    case_only = 0
    for row in load_scigenbench("scigen", data_dir=str(upstream_dir)):
        for quiz in row["quizzes"]:
            values = {k: v for k, v in quiz["options"].items() if v is not None}
            case_only += len({v.lower() for v in values.values()}) < len(set(values.values()))
            for letter, text in values.items():
                parsed = extract_letter(text, list(values), values)
                assert parsed.letter in (letter, None), (row["id"], text, parsed)
    assert case_only >= 30  # quizzes with options that differ only in case (e.g. genotypes AaBb / AABb)
