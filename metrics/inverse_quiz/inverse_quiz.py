"""Inverse quiz validation: can a vision-language model answer each problem's quizzes from the image alone?"""

import datasets
import evaluate

from scigenbench.metrics.modules import CITATION, compute_quiz

_DESCRIPTION = """\
Inverse quiz validation (SciGenBench). Each generated image comes with 1-6 multiple-choice quizzes about what the
figure should show. A vision-language model (the "judge" backend) answers every quiz from the image alone; the
chosen letter is read by rule only when the reply is unambiguous (a final "Answer: X" line, a lone letter,
"the answer is (X)", \\boxed{X}, or exactly one option's text) and a grader model reads the rest. Reports micro accuracy (over quizzes), macro accuracy
(per image, then averaged), the perfect-image rate, coverage, and the constant-letter guessing baseline.
A missing image (None) is "missing": its quizzes count as wrong in the headline (strict) numbers and are left out of
the *_lenient (upstream-style) ones. A quiz
the pipeline could not grade (API failure, unparsable grader after bounded re-asks) is left out of micro accuracy
(counted in n_quizzes_unscored) and its image's perfect-image state is unscored, never wrong.
"""

_KWARGS_DESCRIPTION = """
Args:
    images (`list` of images): generated images (PIL images, file paths or bytes); `None` for a failed generation.
    quizzes (`list` of `list` of `dict`): per image, its quizzes: `question` (str), `options` (dict letter -> text,
        letters A-E; a missing or None letter is not offered), `correct_option` (str). Rows of
        `load_scigenbench(...)["quizzes"]` (or an export, or the Hub dataset) pass as they are: other keys are
        ignored, except `scorable: False` (a quiz validation marked unanswerable is not asked).
    judge (`str`): backend spec of the answering model, e.g. `"openai:gpt-4o-mini@http://localhost:8000/v1"`,
        `"hf-inference:<model>"`, `"transformers:<path>"`, `"fake"`, or `"ocr"` (offline OCR proxy, labelled so).
    judge_options (`dict`, optional): options for the backend (`responses=[...]` for `fake`, `cache`, `timeout`...).
    grader (`str`, optional): backend spec of the letter grader, used only for replies the rule cannot read
        (no final "Answer: X", lone letter or exact option text). Without one such a quiz is unscored (left out of
        micro accuracy, its raw reply kept) — never a guessed letter.
    grader_options (`dict`, optional): options for the grader backend.
    blind (`bool`, default False): ask the quizzes without the image (how guessable are they?).
    ids, domains, image_types (`list`, optional): per-image labels kept in the records.
    n_boot (`int`, default 0): bootstrap resamples for 95 % confidence intervals.
    return_records (`bool`, default False): also return the per-image records (raw replies, letters, reasons).
Returns:
    quiz_acc_micro (`float`): correct quizzes / quizzes of scored and missing images, missing ones wrong (0-1,
        strict; `quiz_acc_micro_strict` is the same); `quiz_acc_micro_lenient` over scored images only.
    quiz_acc_macro (`float`), perfect_image_rate (`float`): per-image mean accuracy and share of images with every
        quiz right (each with `_strict`, `_lenient`, `_ci95` and `_lenient_ci95`).
    n_items, n_scored, n_unscored, n_missing, n_not_applicable (`int`): coverage.
    answer_calls, grader_calls (`int`): model calls made (cache hits excluded).
    guessing_baseline_micro (`float`), guessing_baseline_letter (`str`): best constant-letter guess.
    judge_model (`str`), proxy (`bool`), blind (`bool`).
Examples:
    A scripted judge (the `fake` backend) answers "B" to every quiz:

    >>> from scigenbench.metrics.modules import load_metric
    >>> from PIL import Image
    >>> quiz = load_metric("inverse_quiz")
    >>> quizzes = [[{"question": "Mass of the block?", "options": {"A": "1 kg", "B": "2 kg", "C": "3 kg", "D": "4 kg"},
    ...              "correct_option": "B"},
    ...             {"question": "Angle of the incline?", "options": {"A": "30°", "B": "45°", "C": "60°", "D": "90°"},
    ...              "correct_option": "A"}]]
    >>> out = quiz.compute(images=[Image.new("RGB", (64, 64), "white")], quizzes=quizzes, judge="fake",
    ...                    judge_options={"responses": ["Answer: B", "Answer: B"]})
    >>> out["quiz_acc_micro"], out["perfect_image_rate"], out["answer_calls"]
    (0.5, 0.0, 2)

    The offline OCR proxy reads the label drawn in the image; a failed generation is missing:

    >>> from PIL import ImageDraw
    >>> img = Image.new("RGB", (360, 120), "white")
    >>> ImageDraw.Draw(img).text((20, 40), "m = 47 kg", fill="black")
    >>> qs = [{"question": "Which mass is written?", "options": {"A": "12 kg", "B": "47 kg"}, "correct_option": "B"}]
    >>> out = quiz.compute(images=[img, None], quizzes=[qs, qs], judge="ocr", judge_options={"cache": False})
    >>> out["quiz_acc_micro"], out["quiz_acc_micro_lenient"], out["n_missing"], out["proxy"]
    (0.5, 1.0, 1, True)
"""

#: quizzes as JSON, so rows pass exactly as load_scigenbench, an export or the Hub dataset give them (extra keys
#: such as evidence/scorable/defects/extra, options with absent letters as None). datasets < 5 lacks Json: there
#: quizzes are the three-key structs and options json.dumps(...) strings.
_LIST = getattr(datasets, "List", datasets.Sequence)
_QUIZZES = datasets.Json() if hasattr(datasets, "Json") else _LIST(
    {"question": datasets.Value("string"), "options": datasets.Value("string"), "correct_option": datasets.Value("string")})


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class InverseQuiz(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "images": datasets.Image(),
                "quizzes": _QUIZZES,
            }),
            reference_urls=["https://arxiv.org/abs/2601.17027", "https://github.com/SciGenBench/SciGenBench"],
        )

    def _compute(self, images, quizzes, judge=None, judge_options=None, grader=None, grader_options=None,
                 blind=False, ids=None, domains=None, image_types=None, n_boot=0, return_records=False):
        return compute_quiz(images, quizzes, judge=judge, judge_options=judge_options, grader=grader,
                            grader_options=grader_options, blind=blind, ids=ids, domains=domains,
                            image_types=image_types, n_boot=n_boot, return_records=return_records)
