"""Taxonomy, schema helpers and the import-weight promise of scigenbench.dataset."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scigenbench.dataset import DOMAINS, IMAGE_TYPES, domain_of, problem_features, quiz_letters

CONTRACT_TYPES = """Physics - Field Diagram, Physics - Mechanical, Physics - Optical Ray, Physics - Waveform,
Physics - Astronomical, Physics - Circuit, Physics - Thermodynamic, Math - Set & Probability, Math - Plane Geometric,
Math - Solid Geometric, Math - Analytic Geometry, Universal - Plot & Chart, Universal - Table / Grid,
Universal - Graph & Flow, Universal - Exp. Setup, Chemistry - Molecular Structure, Chemistry - Electron Config,
Chemistry - Reaction Scheme, Chemistry - Orbital / Quantum, Chemistry - Crystal Structure, Chemistry - Spectra,
Biology - Genetics, Biology - Cell Diagram, Biology - Molecular Process, Biology - Ecological"""


def test_the_25_contract_types_map_to_their_domain():
    expected = [t.strip() for t in CONTRACT_TYPES.replace("\n", " ").split(",")]
    assert sorted(IMAGE_TYPES) == sorted(expected)
    assert set(IMAGE_TYPES.values()) == set(DOMAINS) == {"Math", "Physics", "Chemistry", "Biology", "Universal"}
    for image_type in expected:
        assert domain_of(image_type) == image_type.split(" - ")[0]


def test_seephys_without_type_is_physics():
    assert domain_of(None) == domain_of("") == "Physics"


def test_unknown_type_error_suggests_the_exact_string():
    with pytest.raises(ValueError, match="Universal - Table / Grid"):
        domain_of("Universal - Table/Grid")


def test_quiz_letters_are_the_offered_letters_in_order():
    quiz = {"options": {"A": "x", "B": "y", "C": None, "D": "z", "E": "w"}}
    assert quiz_letters(quiz) == ["A", "B", "D", "E"]


def test_features_follow_the_contract():
    features = problem_features()
    assert list(features) == ["id", "source", "domain", "image_type", "question", "answer", "elements", "quizzes",
                              "multimodal_question", "flags", "image"]
    quizzes = features["quizzes"]
    quiz = getattr(quizzes, "feature", None) or quizzes[0]  # datasets >= 4: List; older: [dict]
    assert list(quiz) == ["question", "options", "correct_option", "evidence", "scorable", "defects", "extra"]
    assert list(quiz["options"]) == ["A", "B", "C", "D", "E"]
    assert type(features["image"]).__name__ == "Image"


def test_import_does_not_load_heavy_frameworks():
    code = (
        "import sys, json, scigenbench.dataset as d; d.load_mini_problems(); d.problem_features();"
        "import scigenbench.dataset.builder, scigenbench.dataset.runs, scigenbench.dataset.export;"
        "print(json.dumps([m for m in ('torch', 'diffusers', 'gradio', 'openai') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
