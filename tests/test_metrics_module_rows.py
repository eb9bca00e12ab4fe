"""Every evaluate module takes the dataset's own rows, from load_scigenbench to compute, without reshaping."""

import pytest

from scigenbench.dataset import load_scigenbench
from scigenbench.metrics.modules import load_metric
from scigenbench.metrics.testing import png, scripted_judge


def _judge():
    return {"responses": scripted_judge(), "cache": False}


@pytest.fixture(scope="module")
def mini():
    ds = load_scigenbench("mini").select(range(4))
    return ds, [png("white", (96, 64), text=str(i)) for i in range(len(ds))]


def test_inverse_quiz_takes_load_scigenbench_quizzes(mini):
    ds, images = mini
    assert "evidence" in ds[0]["quizzes"][0] and None in ds[0]["quizzes"][0]["options"].values()
    out = load_metric("inverse_quiz").compute(images=images, quizzes=ds["quizzes"], judge="fake",
                                              judge_options=_judge())
    assert out["n_scored"] == len(ds) and out["answer_calls"] == sum(len(q) for q in ds["quizzes"])


def test_inverse_validation_takes_multimodal_question_and_answer_columns(mini):
    ds, images = mini
    out = load_metric("inverse_validation").compute(images=images, questions=ds["multimodal_question"],
                                                    answers=ds["answer"], judge="fake", judge_options=_judge())
    assert out["n_items"] == len(ds) and out["n_unscored"] == 0


def test_scigenbench_judge_takes_the_question_column(mini):
    ds, images = mini
    out = load_metric("scigenbench_judge").compute(images=images, questions=ds["question"], judge="fake",
                                                   judge_options=_judge())
    assert out["n_scored"] == len(ds)


@pytest.mark.needs_upstream
def test_seephys_rows_go_to_every_module_as_they_are(upstream_dir):
    ds = load_scigenbench("seephys", data_dir=str(upstream_dir)).select(range(3))
    images = [png("white", (120, 90), text=str(i)) for i in range(len(ds))]
    assert all(q is None for q in ds["multimodal_question"])
    rinv = load_metric("inverse_validation")
    none = rinv.compute(images=images, questions=ds["multimodal_question"], answers=ds["answer"], judge="fake",
                        judge_options=_judge())
    assert none["n_not_applicable"] == len(ds)  # SeePhys has no multimodal question: not applicable, not an error
    asked = rinv.compute(images=images, questions=ds["question"], answers=ds["answer"], judge="fake",
                         judge_options=_judge())
    assert asked["n_not_applicable"] == 0 and asked["n_items"] == len(ds)
    quiz = load_metric("inverse_quiz").compute(images=images, quizzes=ds["quizzes"], judge="fake",
                                               judge_options=_judge())
    assert quiz["n_scored"] == len(ds)
    fidelity = load_metric("image_fidelity").compute(images=images, references=ds["image"])
    assert fidelity["n_pairs"] == len(ds) and fidelity["psnr"] is not None
