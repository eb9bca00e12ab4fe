"""Synthesis input: files and dataset folders, columns, stable ids, skipped rows, SciGenBench-schema rows."""

from __future__ import annotations

import json

import pytest

from scigenbench.training.inputs import InputSpec, content_id, make_items, read_rows

ROWS = [{"problem": f"What is {i} + {i}?", "solution_text": str(2 * i), "uid": f"q{i}"} for i in range(1, 6)]


def spec(path, **kw) -> InputSpec:
    return InputSpec(str(path), question_column="problem", answer_column="solution_text", **kw)


@pytest.mark.parametrize("kind", ["jsonl", "json", "parquet", "csv", "folder"])
def test_every_input_kind_reads_the_same_rows(tmp_path, kind):
    import datasets

    ds = datasets.Dataset.from_list(ROWS)
    if kind == "jsonl":
        path = tmp_path / "qa.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    elif kind == "json":
        path = tmp_path / "qa.json"
        path.write_text(json.dumps(ROWS))
    elif kind == "parquet":
        path = tmp_path / "qa.parquet"
        ds.to_parquet(str(path))
    elif kind == "csv":
        path = tmp_path / "qa.csv"
        ds.to_csv(str(path), index=False)
    else:
        path = tmp_path / "qa_folder"
        (path / "data").mkdir(parents=True)
        ds.to_parquet(str(path / "data" / "train-00000-of-00001.parquet"))
    items, skipped = make_items(read_rows(spec(path)), spec(path))
    assert [i["question"] for i in items] == [r["problem"] for r in ROWS] and not skipped
    assert [i["answer"] for i in items] == ["2", "4", "6", "8", "10"]  # numbers in a CSV become text


def test_ids_come_from_the_id_column_or_a_stable_content_hash(tmp_path):
    path = tmp_path / "qa.json"
    path.write_text(json.dumps(ROWS))
    with_ids, _ = make_items(read_rows(spec(path, id_column="uid")), spec(path, id_column="uid"))
    hashed, _ = make_items(read_rows(spec(path)), spec(path))
    assert [i["id"] for i in with_ids] == ["q1", "q2", "q3", "q4", "q5"]
    assert hashed[0]["id"] == content_id("What is 1 + 1?", "2") == content_id(" What is 1 + 1? ", "2")
    assert hashed[0]["id"].startswith("syn-") and len({i["id"] for i in hashed}) == 5


def test_seed_and_limit_pick_a_stable_sample_and_a_larger_limit_extends_it(tmp_path):
    path = tmp_path / "qa.json"
    path.write_text(json.dumps(ROWS))
    first, _ = make_items(read_rows(spec(path)), spec(path, seed=3, limit=2))
    again, _ = make_items(read_rows(spec(path)), spec(path, seed=3, limit=2))
    more, _ = make_items(read_rows(spec(path)), spec(path, seed=3, limit=4))
    assert [i["id"] for i in first] == [i["id"] for i in again] == [i["id"] for i in more][:2]
    assert [i["index"] for i in more] == [0, 1, 2, 3]


def test_empty_and_repeated_rows_are_reported_with_their_row_number(tmp_path):
    rows = [ROWS[0], {"problem": "  ", "solution_text": "1"}, {"problem": "Q?", "solution_text": None}, ROWS[0]]
    path = tmp_path / "qa.json"
    path.write_text(json.dumps(rows))
    items, skipped = make_items(read_rows(spec(path)), spec(path))
    assert len(items) == 1
    assert [(s["row"], s["reason"]) for s in skipped] == [(1, "empty_question"), (2, "empty_answer"),
                                                          (3, "duplicate_id")]


def test_a_missing_column_or_input_is_a_clear_error(tmp_path):
    path = tmp_path / "qa.json"
    path.write_text(json.dumps(ROWS))
    with pytest.raises(ValueError, match="--answer-column 'answer' is not a column.*problem, solution_text, uid"):
        make_items(read_rows(InputSpec(str(path), question_column="problem")),
                   InputSpec(str(path), question_column="problem"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_rows(InputSpec(str(tmp_path / "nope.jsonl")))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a", "answer": "b"}\n{oops\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        read_rows(InputSpec(str(bad)))


def test_scigenbench_fields_of_a_row_are_given_to_the_stages(tmp_path):
    row = {"question": "q", "answer": "a", "image_type": "Physics - Circuit", "elements": ["a battery", ""],
           "quizzes": [{"question": "x"}], "multimodal_question": "m", "extra": 1}
    other = {"question": "q2", "answer": "a", "image_type": "Physics - Nonsense", "elements": []}
    path = tmp_path / "qa.json"
    path.write_text(json.dumps([row, other]))
    items, _ = make_items(read_rows(InputSpec(str(path))), InputSpec(str(path)))
    assert items[0]["given"] == {"image_type": "Physics - Circuit", "elements": ["a battery"],
                                 "quizzes": [{"question": "x"}], "multimodal_question": "m"}
    assert items[1]["given"] == {}  # an unknown image type is triaged again
