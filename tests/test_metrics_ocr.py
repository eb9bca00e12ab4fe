"""The `ocr` proxy answerer: real tesseract on real renderings of the mini set's reference programs."""

import shutil

import pytest

from scigenbench.metrics.ocr import choose_option, parse_options
from scigenbench.metrics.quiz import quiz_prompt

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs the tesseract binary")


def test_choose_option_prefers_the_text_found_and_abstains_on_ties():
    assert choose_option({"A": "(0, 5)", "B": "(0, 3)"}, "x\n(0, 3)\n(5, 0)")[0] == "B"
    assert choose_option({"A": "3.0 kg", "B": "5.0 kg"}, "m1 = 3.0 kg  m2 = 5.0 kg")[0] is None
    assert choose_option({"A": "cat", "B": "dog"}, "")[0] is None


def test_parse_options_reads_the_quiz_prompt():
    quiz = {"question": "Mass?", "options": {"A": "1 kg", "B": "2 kg", "C": "3 kg", "D": None, "E": None},
            "correct_option": "B"}
    assert parse_options(quiz_prompt(quiz)) == {"A": "1 kg", "B": "2 kg", "C": "3 kg"}


def test_ocr_backend_reads_a_rendered_label():
    from scigenbench.metrics.specs import resolve_backend
    from scigenbench.metrics.testing import png

    backend = resolve_backend("ocr", cache=False)
    quiz = {"question": "Which mass is written?", "options": {"A": "12 kg", "B": "47 kg"}, "correct_option": "B"}
    image = png("white", (360, 120), text="m = 47 kg")
    reply = backend.chat([{"role": "user", "content": [{"type": "text", "text": quiz_prompt(quiz)},
                                                       {"type": "image", "image": image}]}])
    assert reply.text.splitlines()[-1] == "Answer: B"
    assert backend.describe()["proxy"] is True


def test_ocr_backend_refuses_non_quiz_prompts():
    from scigenbench.generators.backends import BackendError
    from scigenbench.metrics.specs import resolve_backend

    with pytest.raises(BackendError, match="multiple-choice quizzes only"):
        resolve_backend("ocr", cache=False, max_retries=0).chat([{"role": "user", "content": "Rate this figure"}])


@pytest.mark.slow
def test_mini_references_score_well_above_a_blank_image(tmp_path):
    from scigenbench.dataset import load_mini_problems
    from scigenbench.metrics.evaluation import evaluate_run
    from scigenbench.metrics.testing import make_run, png, render_python_references

    problems = load_mini_problems()
    rendered = render_python_references([p["id"] for p in problems], tmp_path / "refs")
    assert len(rendered) >= 10
    subset = [p for p in problems if p["id"] in rendered]
    make_run(tmp_path / "refs_run", {p["id"]: rendered[p["id"]].read_bytes() for p in subset})
    make_run(tmp_path / "blank_run", {p["id"]: png("white", (640, 480)) for p in subset})
    scores = {}
    for name in ("refs_run", "blank_run"):
        report = evaluate_run(tmp_path / name, ["quiz"], "ocr", problems=subset, progress=False, n_boot=0,
                              backend_options={"cache_dir": str(tmp_path / "cache")})
        summary = report.summaries["quiz"]
        assert summary["proxy"] is True and summary["judge_models"] == ["ocr-proxy:tesseract-v2"]
        assert summary["coverage"]["n_scored"] == len(subset)
        scores[name] = summary["quiz_acc_micro"]["strict"]
    print(f"ocr proxy micro accuracy: references {scores['refs_run']:.1%}, blank {scores['blank_run']:.1%}")
    assert scores["blank_run"] == 0.0
    assert scores["refs_run"] >= 0.15
