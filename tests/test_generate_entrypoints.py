"""ImgCoder through the runner: the offline demo step and upstream's ``run_imgcoder.py`` entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scigenbench.dataset import load_mini_problems
from scigenbench.dataset.runs import RunFolder
from scigenbench.generators.imgcoder import build_replay_recordings
from scigenbench.scripts.run_imgcoder import detect_split, load_input

PYTHON_REFERENCE_IDS = ["mini-physics-atwood-machine", "mini-math-venn-languages"]


def _mini(ids):
    return [p for p in load_mini_problems() if p["id"] in ids]


@pytest.mark.slow
def test_demo_generates_both_runs_offline_and_resumes(tmp_path):
    from scigenbench.generators.demo import generate_demo

    problems = _mini(PYTHON_REFERENCE_IDS)
    runs = generate_demo(tmp_path, problems=problems, progress=False, verbose=False)
    assert set(runs) == {"imgcoder", "text-card"}
    for run_dir in runs.values():
        run = RunFolder.open(run_dir)
        assert run.done_ids() == set(PYTHON_REFERENCE_IDS)
        assert all(run.image_path(i).stat().st_size > 0 for i in PYTHON_REFERENCE_IDS)
    imgcoder = RunFolder.open(runs["imgcoder"]).records()
    assert all(r["plan"] and r["code"] and r["extra"]["render_ok_first_try"] for r in imgcoder.values())

    generate_demo(tmp_path, problems=problems, progress=False, verbose=False)  # a second demo resumes
    assert len(RunFolder.open(runs["imgcoder"]).attempts()) == len(PYTHON_REFERENCE_IDS)


@pytest.mark.slow
def test_run_imgcoder_maps_an_upstream_schema_file_onto_the_runner(tmp_path):
    from scigenbench.dataset.mini import MINI_PROBLEMS_DIR

    raw = [json.loads((MINI_PROBLEMS_DIR / f"{i}.json").read_text()) for i in PYTHON_REFERENCE_IDS]
    (tmp_path / "input.json").write_text(json.dumps(raw))
    recording = build_replay_recordings(_mini(PYTHON_REFERENCE_IDS), tmp_path / "replay.jsonl")
    result = subprocess.run(
        [sys.executable, "-m", "scigenbench.scripts.run_imgcoder", "--input_file", str(tmp_path / "input.json"),
         "--backbone", f"replay:{recording['path']}", "--output_dir", str(tmp_path / "run"), "--no-progress"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "2 problem(s) as scigen" in result.stdout
    run = RunFolder.open(tmp_path / "run")
    assert run.done_ids() == set(PYTHON_REFERENCE_IDS) and run.info["dataset"] == "scigen"


def test_seephys_shaped_input_is_detected_and_ids_become_strings(tmp_path):
    rows = [{"id": 7, "question": "A ray hits a mirror at 30°. Find the reflected angle.", "image_type": "",
             "answer": "30°", "elements": ["mirror", "incident ray", "normal"],
             "quizzes": [{"question": "What is the angle of incidence?",
                          "options": {"A": "30°", "B": "45°", "C": "60°", "D": "90°"},
                          "correct_option": "A", "evidence_snippet": "at 30°"}]}]
    (tmp_path / "in.json").write_text(json.dumps(rows))
    assert detect_split(rows) == "seephys"
    problems, split, _report = load_input(tmp_path / "in.json")
    assert split == "seephys" and problems[0]["id"] == "7" and problems[0]["domain"] == "Physics"


def test_run_imgcoder_reports_a_missing_input_file(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "scigenbench.scripts.run_imgcoder", "--input_file", str(tmp_path / "nope.json"),
         "--backbone", "fake", "--output_dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "nope.json" in result.stderr
