"""LMM-as-judge for scientific figures: five rubric dimensions rated 0-2 by a vision-language model."""

import datasets
import evaluate

from scigenbench.metrics.modules import CITATION, compute_judge

_DESCRIPTION = """\
LMM-as-judge (SciGenBench). A vision-language model (the "judge" backend) rates each generated figure against the
problem it was drawn for on five dimensions, each an integer 0 (low), 1 (medium) or 2 (high):
Correctness_Fidelity (C&F), Layout_Precision (L&P), Readability_Occlusion (R&O), Scientific_Plausibility (SP) and
Expressiveness_Richness (E&R). The prompt is the project's own (versioned) with the paper's rubric. The verdict is
the last well-formed JSON object with the five keys; a reply without one, or with a value outside {0, 1, 2}, is
"unscored" (kept with its raw text), never 0 and in no mean. A missing image (None) is "missing": it counts 0 in
the headline (strict) numbers and is left out of the *_lenient (upstream-style) ones.
"""

_KWARGS_DESCRIPTION = """
Args:
    images (`list` of images): generated figures (PIL images, paths or bytes); `None` for a failed generation.
    questions (`list` of `str`): the original problem text of each figure (the judge's "caption").
    judge (`str`): backend spec of the judge, e.g. `"openai:gpt-4o@http://localhost:8000/v1"`,
        `"hf-inference:<model>"`, `"transformers:<path>"` or `"fake"` (scripted, for tests).
    judge_options (`dict`, optional): backend options (`responses=[...]` for `fake`, `cache`, `timeout`, ...).
    ids, domains, image_types (`list`, optional): per-image labels kept in the records.
    n_boot (`int`, default 0): bootstrap resamples for 95 % confidence intervals.
    return_records (`bool`, default False): also return per-image records (raw reply, scores, reason, image hash).
Returns:
    overall (`float`): mean of the five dimensions (0-2) over scored and missing images, missing counting 0
        (strict; `overall_strict` is the same); `overall_lenient` over scored images only (upstream-style).
    Correctness_Fidelity, Layout_Precision, Readability_Occlusion, Scientific_Plausibility, Expressiveness_Richness
        (`float`): per-dimension means (0-2), each with `_strict`, `_lenient`, `_ci95` and `_lenient_ci95`.
    n_items, n_scored, n_unscored, n_missing, n_not_applicable (`int`): coverage.
    judge_model (`str`), prompt_version (`list`).
Examples:
    A scripted judge; the second reply is not a valid verdict, so that image is unscored (not 0):

    >>> from scigenbench.metrics.modules import load_metric
    >>> from PIL import Image
    >>> judge = load_metric("scigenbench_judge")
    >>> verdict = ('{"Correctness_Fidelity": 2, "Layout_Precision": 1, "Readability_Occlusion": 2, '
    ...            '"Scientific_Plausibility": 2, "Expressiveness_Richness": 1}')
    >>> img = Image.new("RGB", (64, 64), "white")
    >>> out = judge.compute(images=[img, img], questions=["A block on a 30° incline.", "A lens."], judge="fake",
    ...                     judge_options={"responses": ["Clear figure.\\n" + verdict, "Looks great!"]})
    >>> out["overall"], out["Layout_Precision"], out["n_scored"], out["n_unscored"]
    (1.6, 1.0, 1, 1)

    A failed generation counts 0 in the headline (strict) numbers; `_lenient` leaves it out:

    >>> out = judge.compute(images=[img, None], questions=["A block.", "A lens."], judge="fake",
    ...                     judge_options={"responses": [verdict]})
    >>> out["Correctness_Fidelity"], out["Correctness_Fidelity_lenient"], out["n_missing"]
    (1.0, 2.0, 1)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ScigenbenchJudge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"images": datasets.Image(), "questions": datasets.Value("string")}),
            reference_urls=["https://arxiv.org/abs/2601.17027", "https://github.com/SciGenBench/SciGenBench"],
        )

    def _compute(self, images, questions, judge=None, judge_options=None, ids=None, domains=None, image_types=None,
                 n_boot=0, return_records=False):
        return compute_judge(images, questions, judge=judge, judge_options=judge_options, ids=ids, domains=domains,
                             image_types=image_types, n_boot=n_boot, return_records=return_records)
