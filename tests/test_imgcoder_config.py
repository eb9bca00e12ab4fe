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
    run_stats,
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
    # how the backbone is called (retries, concurrency) does not change the output, so not the hash either
    assert get_generator("imgcoder", backbone="fake", concurrency=1, max_retries=0).config_hash() == \
        get_generator("imgcoder", backbone="fake").config_hash()


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


def test_run_stats_counts_render_rates_rounds_and_failed_checks():
    def record(status, rounds, first, after, verified, failed=()):
        return {"status": status, "usage": {"prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.001},
                "extra": {"rounds_used": rounds, "render_ok_first_try": first, "render_ok_after_repair": after,
                          "verified_first_try": verified and rounds == 1, "verified": verified,
                          "checks_failed": list(failed)}}

    stats = run_stats([
        record("ok", 1, True, True, True),
        record("ok", 2, False, True, True),
        record("verify_failed", 3, True, True, False, ["answer_not_leaked"]),
        {"status": "failed", "usage": {}, "extra": {"rounds_used": 0}},  # the backbone failed before any render
    ])
    assert stats["n"] == 4 and stats["n_ok"] == 2
    assert stats["render_rate_first_try"] == 0.5 and stats["render_rate_after_repair"] == 0.75
    assert stats["verified_rate_first_try"] == 0.25 and stats["verified_rate"] == 0.5
    assert stats["mean_rounds"] == 2.0 and stats["rounds_histogram"] == {0: 1, 1: 1, 2: 1, 3: 1}
    assert stats["checks_failed"] == {"answer_not_leaked": 1}
    assert stats["prompt_tokens"] == 30 and stats["cost_usd"] == 0.003


def test_include_elements_false_sends_the_question_alone():
    from scigenbench.generators.backends import get_backend

    seen = []

    def answer(messages, **params):
        seen.append(messages[-1]["content"])
        return ""  # no program: the item ends as render_failed without rendering anything

    problem = {"id": "x", "question": "A 2 kg block.", "image_type": "Physics - Mechanical", "answer": "1",
               "elements": ["a red block labelled m"]}
    coder = ImgCoder(get_backend("fake", responses=answer), ImgCoderConfig(include_elements=False,
                                                                           max_repair_rounds=0))
    out = coder.generate(problem)
    assert out.status == "render_failed" and "no program" in out.error
    assert len(seen) == 3 and all("A 2 kg block." in s and "red block" not in s for s in seen)


def test_a_sandbox_that_cannot_run_fails_the_item_without_repair_calls():
    from scigenbench.generators.backends import get_backend

    class BrokenPool:  # stands for a machine where the sandbox cannot start
        def render(self, code, language, **kw):
            raise RuntimeError("bubblewrap is not installed")

    backend = get_backend("fake", responses=["{}", "{}", "```python\nimport matplotlib\n```"])
    out = ImgCoder(backend, pool=BrokenPool()).generate({"id": "x", "question": "Draw a circle."})
    assert out.status == "failed" and "bubblewrap is not installed" in out.error
    assert [s["stage"] for s in out.extra["stages"]] == ["understand", "plan", "code"]
