"""Synthesis code checks and tolerant parsers: evidence, answer leaks, quizzes asking for the answer, letters."""

from __future__ import annotations

import collections
import json

from scigenbench.training import checks
from scigenbench.training.construct import (
    parse_elements, parse_triage, quiz_parser, resolve_image_type, rewrite_parser,
)

QUESTION = ("A block of mass m = 2.0 kg rests on a frictionless incline at 30° to the horizontal. Taking "
            "g = 9.8 m/s², find the acceleration of the block along the incline.")
ANSWER = "4.9 m/s²"


def quiz(correct="B", evidence="mass m = 2.0 kg", options=("1.0 kg", "2.0 kg", "3.0 kg", "4.0 kg")):
    return {"question": "What mass is labelled on the block?", "options": dict(zip("ABCD", options)),
            "correct_option": correct, "evidence_snippet": evidence}


def test_evidence_is_found_after_normalisation():
    assert checks.evidence_in_question("Mass  M = 2.0 kg", QUESTION)
    assert checks.evidence_in_question("{eq}g = 9.8{/eq} m/s²", QUESTION.replace("g = 9.8", "$g = 9.8$"))
    assert checks.evidence_in_question("a block of mass … frictionless incline", QUESTION)


def test_evidence_not_in_the_question_is_a_defect():
    assert checks.quiz_defects(quiz(evidence="the block weighs 20 N"), QUESTION, ANSWER) == ["evidence_not_in_question"]
    assert checks.quiz_defects(quiz(evidence=""), QUESTION, ANSWER) == ["no_evidence"]


def test_options_must_be_distinct_and_complete():
    assert "options_not_distinct" in checks.quiz_defects(quiz(options=("2.0 kg", "2.0  KG", "3 kg", "4 kg")),
                                                         QUESTION, ANSWER)
    three = quiz()
    del three["options"]["D"]
    assert "options_not_A_to_D" in checks.quiz_defects(three, QUESTION, ANSWER)


def test_a_quiz_asking_for_the_final_answer_is_rejected():
    asks = quiz(correct="C", evidence="find the acceleration", options=("9.8 m/s²", "2.0 m/s²", "4.9 m/s²", "0"))
    assert checks.quiz_defects(asks, QUESTION, ANSWER) == ["asks_final_answer"]
    # a given value of the question is what quizzes are for, even when it is a number
    assert checks.quiz_defects(quiz(), QUESTION, ANSWER) == []


def test_answer_leak_finds_the_answer_value_but_not_given_values():
    rewrite = "The block in the figure rests on the incline drawn. Find its acceleration."
    assert checks.answer_leak(rewrite, ANSWER, QUESTION) is None
    assert "4.9" in checks.answer_leak(rewrite + " (It is 4.9 m/s².)", ANSWER, QUESTION)
    assert checks.answer_leak("Using g = 9.8 m/s² as shown, find a.", ANSWER, QUESTION) is None
    assert checks.answer_leak("Is the ester shown the product? Answer: ethyl acetate", "ethyl acetate") is not None
    assert checks.answer_leak("Is it yes or no?", "yes") is None  # too generic to search


def test_rebalancing_moves_the_correct_option_and_records_the_permutation():
    moved = checks.rebalance_quiz(quiz(correct="C", options=("w", "x", "right", "z")), "A")
    assert moved["correct_option"] == "A" and moved["options"]["A"] == "right"
    assert moved["options"] == {"A": "right", "B": "w", "C": "x", "D": "z"}
    assert moved["rebalanced"] == {"from": "C", "to": "A", "order": ["C", "A", "B", "D"]}


def test_target_letters_balance_any_skewed_input():
    letters = collections.Counter(checks.target_letter(i, j) for i in range(40) for j in range(i % 3 + 3))
    assert max(letters.values()) - min(letters.values()) <= 2
    assert len({checks.target_letter(7, j) for j in range(4)}) == 4  # one item's quizzes use distinct letters


def test_image_types_resolve_from_model_spellings():
    assert resolve_image_type("physics - mechanical") == "Physics - Mechanical"
    assert resolve_image_type("Mechanical") == "Physics - Mechanical"
    assert resolve_image_type("Physics: Circuit") == "Physics - Circuit"
    assert resolve_image_type("Universal - Table/Grid") == "Universal - Table / Grid"
    assert resolve_image_type("a nice picture") is None


def test_triage_parser_tolerates_prose_fences_and_strings():
    reply = 'Sure.\n```json\n{"visualizable": "yes", "image_type": "circuit", "reason": "x",}\n```'
    value, problem = parse_triage(reply)
    assert problem is None and value == {"visualizable": True, "image_type": "Physics - Circuit", "reason": "x"}
    value, problem = parse_triage('{"visualizable": false, "reason": "a definition"}')
    assert value["visualizable"] is False
    assert parse_triage("no json here")[0] is None
    assert "not one of the listed types" in parse_triage('{"visualizable": true, "image_type": "Poetry"}')[1]


def test_elements_parser_accepts_a_bare_list():
    assert parse_elements('```\n["a pulley", "two blocks", "a string",]\n```') == (
        ["a pulley", "two blocks", "a string"], None)
    assert parse_elements('{"elements": ["one"]}')[0] is None


def test_quiz_parser_reads_messy_quizzes_and_reports_rejected_ones():
    messy = {"quizzes": [
        {"Question": "What mass is labelled on the block?", "choices": ["A) 1.0 kg", "B) 2.0 kg", "C) 3 kg", "D) 4 kg"],
         "answer": "(B) 2.0 kg", "evidence": '"mass m = 2.0 kg"'},
        {"question": "What angle does the incline make?", "options": {"(A)": "30°", "(B)": "45°", "(C)": "60°",
                                                                      "(D)": "90°"},
         "correct_option": "Option A", "evidence_snippet": "incline at 30°"},
        {"question": "What value of g is written?", "options": ["9.8 m/s²", "10 m/s²", "9.0 m/s²", "8.9 m/s²"],
         "correct": "9.8 m/s²", "evidence_snippet": "g = 9.8 m/s²"},
        {"question": "What is the acceleration?", "options": ["4.9 m/s²", "2 m/s²", "1 m/s²", "0"],
         "correct_option": "A", "evidence_snippet": "find the acceleration"},
    ]}
    value, problem = quiz_parser(QUESTION, ANSWER)("Here you go:\n" + json.dumps(messy))
    assert problem is None
    assert [q["correct_option"] for q in value["quizzes"]] == ["B", "A", "A"]
    assert value["rejected"][0]["defects"] == ["asks_final_answer"]


def test_quiz_parser_reasks_when_too_few_quizzes_pass():
    bad = {"quizzes": [quiz(evidence="not there") for _ in range(4)]}
    value, problem = quiz_parser(QUESTION, ANSWER)(json.dumps(bad))
    assert value is None and "evidence_not_in_question" in problem and "only 0 of 4" in problem


def test_rewrite_parser_rejects_leaks_and_copies_and_accepts_plain_prose():
    parse = rewrite_parser(QUESTION, ANSWER)
    assert "reveal the answer" in parse('{"multimodal_question": "Show a = 4.9 m/s² for the block drawn."}')[1]
    assert "original question" in parse(json.dumps({"multimodal_question": QUESTION}))[1]
    assert parse("Rewritten question: Find the acceleration of the block shown.") == (
        "Find the acceleration of the block shown.", None)


def test_dataset_folders_stream_into_shards_that_datasets_loads(tmp_path):
    import io

    import datasets
    from PIL import Image

    from scigenbench.training.output import _write_dataset, verified_features

    def png(shade: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (shade, shade, shade)).save(buf, format="PNG")
        return buf.getvalue()

    rows = ({**{c: f"{c}-{i}" for c in verified_features() if c != "image"},
             "image": {"bytes": png(i), "path": None}} for i in range(5))
    _write_dataset(tmp_path / "v", rows, verified_features(), "card", pretty_name="t", rows_per_shard=2)
    assert len(list((tmp_path / "v" / "data").glob("train-*-of-00003.parquet"))) == 3
    loaded = datasets.load_dataset(str(tmp_path / "v"), split="train")
    assert loaded["id"] == [f"id-{i}" for i in range(5)] and loaded[4]["image"].getpixel((0, 0)) == (4, 4, 4)
    # nothing verified: a valid empty file with the schema (datasets itself refuses to load an empty split)
    import pyarrow.parquet as pq

    _write_dataset(tmp_path / "empty", iter(()), verified_features(), "card", pretty_name="t")
    (empty,) = (tmp_path / "empty" / "data").glob("train-*.parquet")
    table = pq.read_table(empty)
    assert table.num_rows == 0 and datasets.Features.from_arrow_schema(table.schema) == verified_features()
