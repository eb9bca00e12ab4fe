"""Offline end to end on the mini set: ImgCoder over ``replay:`` recordings of the reference programs.

Every mini problem goes through understand → plan → code → sandbox render → verify with the reference answers;
each must render and pass verification in round one. This doubles as the validity check of the mini content
(reference programs, plans and problems agree).
"""

from __future__ import annotations

import json
import shutil

import pytest

from scigenbench.dataset import load_mini_problems
from scigenbench.generators.imgcoder import (
    ImgCoder,
    ImgCoderConfig,
    build_replay_recordings,
    load_reference,
    reference_ids,
)
from scigenbench.generators.sandbox import RendererPool

PROBLEMS = {p["id"]: p for p in load_mini_problems()}
NO_TEX = shutil.which("pdflatex") is None


def _mini_params():
    """One param per mini id; TikZ references are marked needs_tex and skipped without pdflatex."""
    params = []
    for problem_id in sorted(PROBLEMS):
        try:
            tikz = load_reference(problem_id)["language"] == "tikz"
        except (FileNotFoundError, ValueError):
            tikz = False  # the test itself reports the missing or broken reference
        marks = [pytest.mark.needs_tex, pytest.mark.skipif(NO_TEX, reason="pdflatex not installed")] if tikz else []
        params.append(pytest.param(problem_id, marks=marks, id=problem_id))
    return params


@pytest.fixture(scope="module")
def pool():
    with RendererPool() as shared:
        yield shared


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "mini.replay.jsonl"
    return build_replay_recordings(list(PROBLEMS.values()), path)


@pytest.fixture(scope="module")
def coder(recordings, pool):
    with ImgCoder(f"replay:{recordings['path']}", pool=pool) as generator:
        yield generator


def test_every_mini_problem_has_a_reference_and_its_recordings(recordings):
    assert sorted(PROBLEMS) == reference_ids()
    assert recordings["skipped"] == {}
    assert recordings["recordings"] == 3 * len(PROBLEMS)  # understand, plan, code per problem


@pytest.mark.parametrize("problem_id", _mini_params())
def test_reference_renders_and_verifies_through_the_pipeline(coder, problem_id):
    out = coder.generate(PROBLEMS[problem_id])
    failed = out.extra["rounds"][-1]["checks"] if out.extra.get("rounds") else None
    assert out.status == "ok", f"{problem_id}: {out.error} {failed}"
    assert out.extra["rounds_used"] == 1 and out.extra["verified_first_try"]
    reference = load_reference(problem_id)
    assert out.language == reference["language"]
    assert out.code.strip() == reference["code"].strip()
    assert out.plan == reference["plan"]
    assert [s["stage"] for s in out.extra["stages"]] == ["understand", "plan", "code"]
    json.dumps(out.to_record(), ensure_ascii=False)  # the run folder stores it as JSON


def test_single_call_mode_with_few_shot_examples_replays(tmp_path, pool):
    config = ImgCoderConfig(stages="single", few_shot=2)
    problems = [PROBLEMS[i] for i in sorted(PROBLEMS)[:2]]
    path = tmp_path / "single.replay.jsonl"
    info = build_replay_recordings(problems, path, config)
    assert info["recordings"] == len(problems)
    with ImgCoder(f"replay:{path}", config, pool=pool) as generator:
        outputs = [generator.generate(p) for p in problems]
    assert [o.status for o in outputs] == ["ok", "ok"], [o.error for o in outputs]
    assert all(o.extra["stages"][0]["prompt_version"].endswith("example.v1x2") for o in outputs)


def test_a_configuration_without_recordings_fails_cleanly(tmp_path, pool):
    problem = PROBLEMS[sorted(PROBLEMS)[0]]
    path = tmp_path / "default.replay.jsonl"
    build_replay_recordings([problem], path)  # recorded for temperature 0
    with ImgCoder(f"replay:{path}", ImgCoderConfig(temperature=0.7), pool=pool) as generator:
        out = generator.generate(problem)
    assert out.status == "failed"
    assert "understand stage" in out.error and "no recording" in out.error
