"""R_inv (inverse validation): can the original problem be solved from the generated image alone?"""

import datasets
import evaluate

from scigenbench.metrics.modules import CITATION, compute_rinv

_DESCRIPTION = """\
R_inv, inverse validation on the original problem (SciGenBench). The problem rewritten to depend on the figure
(SciGen's multimodal_question; SeePhys uses its question) is answered by a vision-language model from the
generated image alone. The final answer is compared with the gold answer: a conservative numeric/expression
equivalence check (bounded time on any reply) settles easy cases without a model call; otherwise a grader model returns CORRECT,
INCORRECT or INVALID on its last line (anything else is "unscored", never "incorrect"). CORRECT scores 1,
INCORRECT and INVALID (refusal, cut off) score 0. An empty question makes the row "not applicable".
"""

_KWARGS_DESCRIPTION = """
Args:
    images (`list` of images): generated figures; `None` for a failed generation.
    questions (`list` of `str`): the question to answer from the image; `ds["multimodal_question"]` of
        `load_scigenbench(...)` as it is (`None` or empty: not applicable; for SeePhys, whose rows have none, pass
        `ds["question"]`, the question upstream asks).
    answers (`list` of `str`): the gold answers.
    judge (`str`): backend spec of the answering model (`"openai:<model>@<url>"`, `"fake"`, ...).
    judge_options (`dict`, optional): backend options.
    grader (`str`, optional): backend spec of the grader (default: the judge).
    grader_options (`dict`, optional): grader backend options.
    ids, domains, image_types (`list`, optional): per-image labels.
    n_boot (`int`, default 0): bootstrap resamples for 95 % confidence intervals.
    return_records (`bool`, default False): also return the per-image records.
Returns:
    rinv_acc (`float`): correct / (scored + missing) (0-1, strict: a missing image counts 0; `rinv_acc_strict` is
        the same); `rinv_acc_lenient`: correct / scored (upstream-style); `rinv_acc_ci95`, `rinv_acc_lenient_ci95`.
    n_items, n_scored, n_unscored, n_missing, n_not_applicable (`int`): coverage.
    by_method (`dict`): how many verdicts came from the equivalence check and from the grader.
    judge_model (`str`).
Examples:
    The first answer is settled by the equivalence check (no grader call); the second goes to the grader:

    >>> from scigenbench.metrics.modules import load_metric
    >>> from PIL import Image
    >>> rinv = load_metric("inverse_validation")
    >>> img = Image.new("RGB", (64, 64), "white")
    >>> out = rinv.compute(images=[img, img], questions=["Find the acceleration shown.", "Find the image distance."],
    ...                    answers=["4.9 m/s^2", "30 cm"], judge="fake",
    ...                    judge_options={"responses": ["a = g sin 30°\\nFinal answer: 4.90 m/s^2",
    ...                                                 "Final answer: 20 cm", "Different value.\\nVerdict: INCORRECT"]})
    >>> out["rinv_acc"], out["by_method"]
    (0.5, {'equivalence': 1, 'grader': 1})

    A grader reply without a final verdict line is unscored, and an empty question is not applicable:

    >>> out = rinv.compute(images=[img, img], questions=["Find x.", ""], answers=["2", "3"], judge="fake",
    ...                    judge_options={"responses": ["Final answer: 5", "It is correct."]})
    >>> out["n_unscored"], out["n_not_applicable"], out["rinv_acc"]
    (1, 1, None)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class InverseValidation(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"images": datasets.Image(), "questions": datasets.Value("string"),
                                        "answers": datasets.Value("string")}),
            reference_urls=["https://arxiv.org/abs/2601.17027", "https://github.com/SciGenBench/SciGenBench"],
        )

    def compute(self, **kwargs):
        """Compute R_inv over the inputs (see the module's inputs description)."""
        # SeePhys rows (and SciGen rows without one) have multimodal_question None: not applicable, not an error
        for name in ("questions", "answers"):
            if kwargs.get(name) is not None:
                kwargs[name] = ["" if value is None else value for value in kwargs[name]]
        return super().compute(**kwargs)

    def _compute(self, images, questions, answers, judge=None, judge_options=None, grader=None, grader_options=None,
                 ids=None, domains=None, image_types=None, n_boot=0, return_records=False):
        return compute_rinv(images, questions, answers, judge=judge, judge_options=judge_options, grader=grader,
                            grader_options=grader_options, ids=ids, domains=domains, image_types=image_types,
                            n_boot=n_boot, return_records=return_records)
