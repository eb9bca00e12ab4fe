"""The ``text-card`` baseline: the question as an image, deterministic bytes, no answer."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import pytest
from PIL import Image

from scigenbench.generators import get_generator
from scigenbench.generators.baselines import TextCardConfig, card_lines

PROBLEM = {"id": "mini-physics-incline", "question": "A block of mass $m = 2$ kg rests on a 30° incline.\n"
           "Find the friction force.", "answer": "9.8 N", "elements": ["incline at 30°", "block", "friction arrow"]}


def test_same_problem_gives_identical_bytes_and_another_problem_does_not():
    card = get_generator("text-card")
    first, second = card.generate(PROBLEM), card.generate(dict(PROBLEM))
    other = card.generate({**PROBLEM, "question": "A different question."})
    assert first.status == "ok" and first.image_png == second.image_png
    assert other.image_png != first.image_png
    image = Image.open(io.BytesIO(first.image_png))
    assert image.format == "PNG" and image.width == 1024


def test_bytes_are_identical_in_a_fresh_process():
    script = (
        "import hashlib, json, sys\n"
        "from scigenbench.generators import get_generator\n"
        "problem = json.loads(sys.argv[1])\n"
        "print(hashlib.sha256(get_generator('text-card').generate(problem).image_png).hexdigest())\n"
    )
    here = hashlib.sha256(get_generator("text-card").generate(PROBLEM).image_png).hexdigest()
    there = subprocess.run([sys.executable, "-c", script, json.dumps(PROBLEM)], capture_output=True, text=True,
                           check=True, timeout=60).stdout.strip()
    assert there == here


def test_the_card_shows_the_question_and_never_the_answer():
    lines = card_lines(PROBLEM, TextCardConfig())
    assert lines[0].startswith("A block of mass $m = 2$ kg") and "Find the friction force." in lines
    assert not any("9.8 N" in line for line in lines)
    assert not any("incline at 30°" in line for line in lines)
    with_elements = card_lines(PROBLEM, TextCardConfig(include_elements=True))
    assert "Elements:" in with_elements and "• incline at 30°" in with_elements


def test_long_questions_are_wrapped_and_capped():
    lines = card_lines({"question": "word " * 2000}, TextCardConfig(wrap_chars=50, max_lines=20))
    assert len(lines) == 20 and lines[-1] == "…" and all(len(line) <= 50 for line in lines)


def test_options_change_the_config_hash_and_bad_options_are_errors():
    assert get_generator("text-card").config_hash() != \
        get_generator("text-card", include_elements=True).config_hash()
    with pytest.raises(ValueError, match="backbone"):
        get_generator("text-card", backbone="openai:gpt-4o")
    with pytest.raises(ValueError, match="positive"):
        get_generator("text-card", dpi=0)


def test_a_problem_without_question_is_a_failed_output():
    out = get_generator("text-card").generate({"id": "x", "question": "  "})
    assert out.status == "failed" and "no question" in out.error
