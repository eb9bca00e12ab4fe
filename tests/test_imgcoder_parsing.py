"""ImgCoder's tolerant parsing of structured model answers (JSON extraction, understanding, plan, single call)."""

from __future__ import annotations

import pytest

from scigenbench.generators.imgcoder.parsing import (
    as_text_list,
    extract_json,
    normalise_language,
    parse_plan,
    parse_single,
    parse_understanding,
)

PLAN = {"language": "python", "elements": ["incline"], "layout": "left to right", "labels": ["30°", "m = 2 kg"],
        "must_not_show": ["a = 4.9 m/s²"]}


@pytest.mark.parametrize("text", [
    '{"a": 1, "b": [1, 2]}',
    'Here is the plan:\n```json\n{"a": 1, "b": [1, 2]}\n```\nHope this helps.',
    '```\n{"a": 1, "b": [1, 2]}\n```',
    'Sure! {"a": 1, "b": [1, 2]} -- done',
    '```json\n{"a": 1, "b": [1, 2,],}\n```',
    "{'a': 1, 'b': [1, 2]}",
], ids=["bare", "json-fence-with-prose", "plain-fence", "inline-prose", "trailing-commas", "python-literal"])
def test_extract_json_recovers_the_object(text):
    obj, error = extract_json(text)
    assert error is None
    assert obj == {"a": 1, "b": [1, 2]}


def test_extract_json_prefers_the_json_fence_over_other_fences():
    text = '```python\nd = {"x": 1}\n```\n```json\n{"plan": {"labels": ["A"]}}\n```'
    obj, _ = extract_json(text)
    assert obj == {"plan": {"labels": ["A"]}}


@pytest.mark.parametrize("text", ["", "no json here", "```python\nprint(1)\n```", "[1, 2, 3]"])
def test_extract_json_reports_why_it_failed(text):
    obj, error = extract_json(text)
    assert obj is None
    assert error


def test_parse_understanding_coerces_synonyms_and_dict_items():
    text = '{"objects": ["block", "incline"], "given": [{"name": "m", "value": 2, "unit": "kg"}, "30°"], ' \
           '"unknowns": "acceleration"}'
    understanding, error = parse_understanding(text)
    assert error is None
    assert understanding == {"entities": ["block", "incline"], "given_values": ["m = 2 kg", "30°"],
                             "hidden": ["acceleration"]}


def test_parse_understanding_failure_falls_back_to_empty_lists_with_the_reason():
    understanding, error = parse_understanding("I think the figure needs a block.")
    assert understanding == {"entities": [], "given_values": [], "hidden": []}
    assert "not parsed" in error


def test_parse_plan_accepts_a_nested_plan_and_dedupes_labels():
    text = '```json\n{"plan": {"language": "Matplotlib", "elements": "incline", "layout": {"x": 1}, ' \
           '"labels": ["30°", {"text": "m = 2 kg"}, "30°"], "do_not_show": ["4.9"]}}\n```'
    plan, error = parse_plan(text)
    assert error is None
    assert plan == {"language": "python", "elements": ["incline"], "layout": '{"x": 1}',
                    "labels": ["30°", "m = 2 kg"], "must_not_show": ["4.9"]}


def test_parse_plan_forced_language_overrides_and_is_noted():
    plan, note = parse_plan('{"language": "tikz", "labels": ["A"]}', preference="python")
    assert plan["language"] == "python"
    assert "forces 'python'" in note


def test_parse_plan_unparseable_gives_the_fallback_plan_and_an_error():
    plan, error = parse_plan("Let me think about the layout first...", preference="tikz")
    assert plan == {"language": "tikz", "elements": [], "layout": "", "labels": [], "must_not_show": []}
    assert error.startswith("plan not parsed")


@pytest.mark.parametrize("value,expected", [
    ("python", "python"), ("Python 3 / matplotlib", "python"), ("LaTeX/TikZ", "tikz"), ("tex", "tikz"),
    ("pgfplots", "tikz"), ("svg", None), (None, None),
])
def test_normalise_language(value, expected):
    assert normalise_language(value) == expected


def test_as_text_list_flattens_and_drops_empties():
    assert as_text_list(["a", ["b", ""], 3, None, {"label": "c"}]) == ["a", "b", "3", "c"]
    assert as_text_list("  ") == []


def test_parse_single_separates_plan_json_from_the_program():
    text = ('Understanding and plan:\n```json\n{"understanding": {"entities": ["block"]}, "plan": '
            '{"language": "python", "labels": ["30°"]}}\n```\n\nProgram:\n```python\nimport matplotlib\n```')
    understanding, plan, code_text, error = parse_single(text)
    assert error is None
    assert understanding["entities"] == ["block"]
    assert plan["labels"] == ["30°"]
    assert "```json" not in code_text and "import matplotlib" in code_text
