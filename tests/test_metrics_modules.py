"""The four `evaluate` modules: loaded with evaluate.load from the repository folders in a fresh process, their
docstring examples, and the evaluate conventions (explicit _compute signature, image features, metric card)."""

import doctest
import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import no_ocr_engine

REPO = Path(__file__).resolve().parents[1]
MODULES = ("scigenbench_judge", "inverse_quiz", "inverse_validation", "image_fidelity")

FRESH_PROCESS = r"""
import json, sys
import evaluate
from PIL import Image, ImageDraw
root = sys.argv[1]
img = Image.new("RGB", (120, 90), "white")
ImageDraw.Draw(img).rectangle([20, 20, 70, 60], outline="black", width=3)
verdict = json.dumps({"Correctness_Fidelity": 2, "Layout_Precision": 2, "Readability_Occlusion": 1,
                      "Scientific_Plausibility": 0, "Expressiveness_Richness": 1})
out = {}
judge = evaluate.load(f"{root}/metrics/scigenbench_judge")
out["judge"] = judge.compute(images=[img, img, None], questions=["q1", "q2", "q3"], judge="fake",
                             judge_options={"responses": [verdict, "```json\n{\"Correctness_Fidelity\": 5}\n```"]})
quiz = evaluate.load(f"{root}/metrics/inverse_quiz")
qs = [{"question": "Mass?", "options": {"A": "1 kg", "B": "2 kg", "C": "3 kg"}, "correct_option": "B"},
      {"question": "Angle?", "options": {"A": "30", "B": "45", "C": "60", "D": "90", "E": "120"},
       "correct_option": "E"}]
out["quiz"] = quiz.compute(images=[img], quizzes=[qs], judge="fake",
                           judge_options={"responses": ["Answer: B", "It could be D or E"]})
rinv = evaluate.load(f"{root}/metrics/inverse_validation")
out["rinv"] = rinv.compute(images=[img, img], questions=["Find x.", "Find y."], answers=["1/2", "3 N"],
                           judge="fake", judge_options={"responses": ["Final answer: 0.5", "Final answer: 4 N",
                                                                     "No.\nVerdict: INCORRECT"]})
fid = evaluate.load(f"{root}/metrics/image_fidelity")
shifted = Image.new("RGB", (120, 90), "white")
ImageDraw.Draw(shifted).rectangle([40, 20, 90, 60], outline="black", width=3)
out["fidelity"] = fid.compute(images=[img, shifted], references=[img, img])
print(json.dumps(out, default=str))
"""


@pytest.mark.slow
def test_every_module_loads_and_computes_in_a_fresh_process(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "SCIGENBENCH_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(REPO)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    judge = out["judge"]
    assert (judge["n_scored"], judge["n_unscored"], judge["n_missing"]) == (1, 1, 1)
    # headline = strict: the missing image counts 0, the unscored one is in no mean
    assert judge["overall"] == pytest.approx(0.6) and judge["overall_lenient"] == pytest.approx(1.2)
    assert judge["Scientific_Plausibility"] == 0.0
    assert judge["Correctness_Fidelity"] == judge["Correctness_Fidelity_strict"] == pytest.approx(1.0)  # (2+0)/2
    assert judge["Correctness_Fidelity_lenient"] == pytest.approx(2.0)
    quiz = out["quiz"]
    # "D or E" is ambiguous, no grader: the last standalone letter (E) is read, which is correct here
    assert quiz["quiz_acc_micro"] == 1.0 and quiz["answer_calls"] == 2 and quiz["grader_calls"] == 0
    rinv = out["rinv"]
    assert rinv["rinv_acc"] == 0.5 and rinv["by_method"] == {"equivalence": 1, "grader": 1}
    fidelity = out["fidelity"]
    assert fidelity["n_pairs"] == 2 and 0 < fidelity["ssim"] < 1 and fidelity["psnr"] > 20


def _load_script(name):
    path = REPO / "metrics" / name / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_scigenbench_module_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run_offline(name, monkeypatch):
    if name == "inverse_quiz" and no_ocr_engine():  # its example scores with the `ocr` proxy
        pytest.skip(f"needs an OCR engine: {no_ocr_engine()}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    module = _load_script(name)
    result = doctest.testmod(module, verbose=False)
    assert result.failed == 0
    examples = module._KWARGS_DESCRIPTION.split("Examples:")[1]
    assert examples.count("\n\n    >>>") + 1 >= 2 or examples.count(".compute(") >= 2
    assert result.attempted >= 6


@pytest.mark.parametrize("name", MODULES)
def test_module_conventions(name):
    import datasets

    module = _load_script(name)
    metric_cls = next(obj for obj in vars(module).values()
                      if inspect.isclass(obj) and obj.__module__ == module.__name__)
    params = inspect.signature(metric_cls._compute).parameters.values()
    assert all(p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params)
    features = metric_cls()._info().features
    assert isinstance(features["images"], datasets.Image)
    folder = REPO / "metrics" / name
    card = (folder / "README.md").read_text()
    for section in ("## Metric Description", "### Inputs", "### Output Values", "#### Values from Popular Papers",
                    "## Limitations and Bias", "## Citation"):
        assert section in card, f"{name}/README.md lacks {section!r}"
    assert "import gradio" in (folder / "app.py").read_text().split("def build_demo")[1]  # imported lazily
    assert "scigenbench" in (folder / "requirements.txt").read_text()


def test_missing_judge_is_a_clear_error():
    from scigenbench.metrics.modules import compute_judge

    with pytest.raises(ValueError, match="judge= is required"):
        compute_judge([None], ["q"], judge=None, judge_options=None)


@pytest.mark.slow
def test_app_builds_an_image_widget(monkeypatch):
    pytest.importorskip("gradio")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = importlib.util.spec_from_file_location("_quiz_app", REPO / "metrics" / "inverse_quiz" / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    demo = app.build_demo()
    import gradio as gr

    assert any(isinstance(block, gr.Image) for block in demo.input_components)
