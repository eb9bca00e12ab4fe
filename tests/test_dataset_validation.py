"""Validation: every upstream defect of PROTOCOL.md §1.7 is reported with PROTOCOL's counts; nothing is dropped."""

from __future__ import annotations

import json

import pytest

from scigenbench.dataset import normalise_rows, validate_data_dir
from scigenbench.dataset.validation import read_json_rows

LETTERS = ("A", "B", "C", "D", "E")

# PROTOCOL.md §1.7: number of issues per code (D8/D9: one issue per item of each pair)
PROTOCOL_COUNTS = {
    "scigen": {"D2": 37, "D2a": 3, "D3": 7, "D4": 7, "D5": 2, "D6": 6, "D7": 59, "D8": 24, "D9": 2, "D10": 21,
               "D11": 23, "D12": 73},
    "seephys": {"D1": 330, "D2": 12, "D2a": 2, "D3": 1, "D4": 0, "D5": 0, "D6": 0, "D7": 330, "D12": 1,
                "D14": 330, "D15": 131},
}


@pytest.fixture(scope="module")
def report(upstream_dir):
    return validate_data_dir(upstream_dir)


@pytest.fixture(scope="module")
def raw(upstream_dir):
    return {split: json.loads((upstream_dir / f"{split}.json").read_text()) for split in ("scigen", "seephys")}


@pytest.mark.parametrize("split", ["scigen", "seephys"])
def test_counts_match_protocol(report, split):
    counts = report.counts(split)
    assert {code: counts.get(code, 0) for code in PROTOCOL_COUNTS[split]} == PROTOCOL_COUNTS[split]


def test_d8_d9_are_pairs(report):
    pairs = {frozenset([i.id, i.reason.split(" as ")[1].split(";")[0]]) for i in report.by_code("D8", "scigen")}
    assert len(pairs) == 12
    assert {i.id for i in report.by_code("D9")} == {"webinstruct-685972", "webinstruct2_2-685972"}


def test_d13_whitespace_fields(report):
    fields = [(i.split, i.field) for i in report.by_code("D13")]
    assert fields.count(("scigen", "answer")) == 1
    assert fields.count(("seephys", "question")) == 11
    assert fields.count(("seephys", "answer")) == 3


def test_every_defective_quiz_is_named(report, raw):
    # independent recomputation from the raw files: bad keys, unordered keys, extra keys, a fifth option
    expected = set()
    for split, rows in raw.items():
        for row in rows:
            for index, quiz in enumerate(row["quizzes"]):
                keys = list(quiz["options"])
                if (any(k not in LETTERS for k in keys) or keys != sorted(keys) or "E" in keys
                        or set(quiz) != {"question", "options", "correct_option", "evidence_snippet"}):
                    expected.add((split, str(row["id"]), index))
    assert len(expected) == 37 + 7 + 2 + 6 + 12
    assert report.defective_quizzes() == expected


def test_all_rows_kept_and_every_quiz_scorable_after_repair(upstream_dir):
    for split, n_rows, n_quizzes in (("scigen", 1057, 4146), ("seephys", 330, 1104)):
        rows, split_report = normalise_rows(read_json_rows(upstream_dir / f"{split}.json", split)[0], split)
        assert len(rows) == n_rows
        assert sum(len(r["quizzes"]) for r in rows) == n_quizzes
        assert all(q["scorable"] for r in rows for q in r["quizzes"])
        assert split_report.ok
        assert all(isinstance(r["id"], str) for r in rows)


def test_d2_repair_rule_and_record(upstream_dir):
    rows, _ = normalise_rows(read_json_rows(upstream_dir / "scigen.json", "scigen")[0], "scigen")
    quiz = {r["id"]: r for r in rows}["webinstruct-1960823"]["quizzes"][0]  # {"4186.8 g": "D"} swapped
    assert quiz["options"]["D"] == "4186.8 g"
    assert quiz["defects"] == ["D2:keys_repaired", "D2a:key_value_swapped"]
    assert json.loads(quiz["extra"])["raw_options"][3] == ["4186.8 g", "D"]
    quiz = {r["id"]: r for r in rows}["webinstruct-1505373"]["quizzes"][0]  # key "0" in C's slot, correct C
    assert quiz["options"]["C"] == "Slow" and quiz["correct_option"] == "C"
    assert "D3:correct_option_missing" in quiz["defects"]


def test_item_flags(upstream_dir):
    rows, _ = normalise_rows(read_json_rows(upstream_dir / "seephys.json", "seephys")[0], "seephys")
    row = rows[0]
    assert row["domain"] == "Physics" and row["image_type"] is None and row["multimodal_question"] is None
    assert {"D1:int_id", "D14:no_image_type", "D7:no_multimodal_question"} <= set(row["flags"])


def test_markdown_and_json_name_every_issue(report):
    text = report.to_markdown()
    for issue in report.by_code("D2") + report.by_code("D3"):
        assert f"| {issue.id} | {issue.quiz} |" in text
    doc = json.loads(report.to_json())
    assert doc["summary"]["scigen"]["issues_by_code"]["D2"] == 37
    assert len(doc["issues"]) == len(report.issues)


# ----------------------------------------------------------------------------------- synthetic rows (no upstream)

def _quiz(options, correct="A", **extra):
    return {"question": "Which?", "options": options, "correct_option": correct, "evidence_snippet": "e", **extra}


def _row(quizzes, **fields):
    row = {"id": "x-1", "question": "Q?", "image_type": "Math - Plane Geometric", "answer": "4",
           "elements": ["a"], "quizzes": quizzes, "multimodal_question": "MQ?"}
    row.update(fields)
    return row


def test_unrepairable_keys_make_the_quiz_unscorable_but_keep_it():
    rows, report = normalise_rows([_row([_quiz({"A": "1", "x": "2", "y": "3", "D": "4"}, correct="B")])], "scigen")
    quiz = rows[0]["quizzes"][0]
    assert quiz["scorable"] is False
    assert "D2:keys_repaired:unrepairable" in quiz["defects"]
    assert json.loads(quiz["extra"])["raw_options"] == [["A", "1"], ["x", "2"], ["y", "3"], ["D", "4"]]
    assert report.n_unscorable["scigen"] == 1 and not report.ok
    assert {(i.code, i.quiz) for i in report.errors} >= {("D2", 0), ("SCHEMA", 0)}


def test_missing_fields_and_unknown_type_are_reported_not_dropped():
    bad = {"id": "x-2", "question": "", "image_type": "Math - Plane", "quizzes": []}
    rows, report = normalise_rows([_row([_quiz({"A": "1", "B": "2"})]), bad], "scigen")
    assert [r["id"] for r in rows] == ["x-1", "x-2"]
    fields = {i.field for i in report.for_id("x-2")}
    assert {"question", "answer", "image_type", "elements", "quizzes"} <= fields
    assert rows[1]["domain"] == "Math"


def test_duplicate_ids_are_reported():
    q = [_quiz({"A": "1", "B": "2"})]
    _, report = normalise_rows([_row(q), _row(q)], "scigen")
    assert [i.id for i in report.by_code("DUP_ID")] == ["x-1"]
