"""ImgCoder configuration, registry factory, packaged prompts and few-shot selection from the mini references."""

from __future__ import annotations

import pytest

from scigenbench.generators import get_generator
from scigenbench.generators.imgcoder import (
    PROMPT_VERSIONS,
    ImgCoder,
    ImgCoderConfig,
    load_reference,
    make_imgcoder,
    reference_ids,
    select_examples,
)
from scigenbench.generators.imgcoder import prompting


def test_config_coerces_command_line_strings_and_rejects_bad_values():
    config = ImgCoderConfig(few_shot="2", temperature="0.2", require_verified="false")
    assert (config.few_shot, config.temperature, config.require_verified) == (2, 0.2, False)
    with pytest.raises(ValueError, match="stages"):
        ImgCoderConfig(stages="three")
    with pytest.raises(ValueError, match="language"):
        ImgCoderConfig(language="svg")
    with pytest.raises(ValueError, match="few_shot must be int"):
        ImgCoderConfig(few_shot="two")


def test_registry_builds_imgcoder_with_backbone_and_options():
    coder = get_generator("imgcoder", backbone="fake", stages="single", max_repair_rounds=1)
    assert isinstance(coder, ImgCoder)
    config = coder.config()
    assert config["generator"] == "imgcoder"
    assert config["backbone"]["backend"] == "fake"
    assert config["stages"] == "single" and config["max_repair_rounds"] == 1
    assert config["prompt_versions"] == PROMPT_VERSIONS
    assert coder.config_hash() != get_generator("imgcoder", backbone="fake").config_hash()


def test_factory_errors_are_actionable():
    with pytest.raises(ValueError, match="needs a backbone"):
        make_imgcoder(None)
    with pytest.raises(TypeError, match="valid: .*few_shot"):
        make_imgcoder(None, backbone="fake", fewshot=2)


def test_every_prompt_template_is_packaged_and_filled():
    for name in PROMPT_VERSIONS:
        assert prompting.load_template(name).strip(), name
    problem = {"id": "x", "question": "A 2 kg block rests on a 30° incline.", "image_type": "Physics - Mechanical",
               "elements": ["block", "incline"], "answer": "9.81 N"}
    messages = prompting.understand_messages(problem)
    text = messages[-1]["content"]
    assert "A 2 kg block" in text and "- incline" in text
    assert "9.81" not in text  # the answer is never sent
    assert "{{" not in text


def test_few_shot_selection_orders_by_type_then_domain_and_excludes_the_item():
    pool = [
        {"id": "a-other-domain", "image_type": "Math - Plane Geometric", "domain": "Math", "language": "python"},
        {"id": "b-same-domain", "image_type": "Physics - Optical Ray", "domain": "Physics", "language": "python"},
        {"id": "c-same-type", "image_type": "Physics - Mechanical", "domain": "Physics", "language": "tikz"},
        {"id": "d-itself", "image_type": "Physics - Mechanical", "domain": "Physics", "language": "python"},
    ]
    problem = {"id": "d-itself", "image_type": "Physics - Mechanical", "domain": "Physics"}
    assert [e["id"] for e in select_examples(problem, 3, pool=pool)] == ["c-same-type", "b-same-domain",
                                                                         "a-other-domain"]
    assert [e["id"] for e in select_examples(problem, 1, language="python", pool=pool)] == ["b-same-domain"]
    assert select_examples(problem, 0, pool=pool) == []


def test_few_shot_examples_from_the_mini_set_go_into_the_code_prompt():
    ids = reference_ids()
    if len(ids) < 2:
        pytest.skip("the mini set has fewer than two references")
    own = load_reference(ids[0])
    problem = {"id": ids[0], "question": "Q", "image_type": "Physics - Mechanical", "domain": "Physics"}
    examples = select_examples(problem, 2, language=own["language"])
    assert examples and ids[0] not in [e["id"] for e in examples]
    messages = prompting.code_messages(problem, own["plan"], own["language"], examples)
    assert examples[0]["code"].strip()[:200] in messages[-1]["content"]
    assert own["code"].strip()[:200] not in messages[-1]["content"]
