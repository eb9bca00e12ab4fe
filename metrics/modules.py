"""The substance of the four ``evaluate`` modules (``metrics/<name>/<name>.py`` are thin shells over this).

Each ``compute_*`` takes column lists plus options, scores every row with the project's metric functions and
returns a flat dict: headline numbers that are **strict** (a missing image counts 0, PROTOCOL §4/§7), the same under
``*_strict`` (an explicit alias), the missing-excluded upstream-style numbers under ``*_lenient``, coverage counts,
and with ``return_records=True`` the per-row records. Unscored rows are in neither mean.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from scigenbench.metrics import aggregate
from scigenbench.metrics.records import ItemResult

MODULE_NAMES = ("scigenbench_judge", "inverse_quiz", "inverse_validation", "image_fidelity")

#: the paper, cited by every evaluate module
CITATION = """\
@article{scigenbench2026,
  title   = {Scientific Image Synthesis: Benchmarking, Methodologies, and Downstream Utility},
  journal = {arXiv preprint arXiv:2601.17027},
  year    = {2026},
  url     = {https://arxiv.org/abs/2601.17027}
}
"""


def module_path(name: str) -> Path:
    """Folder of the ``evaluate`` module ``name`` inside the installed package."""
    if name not in MODULE_NAMES:
        raise ValueError(f"unknown scigenbench evaluate module {name!r}; choose from {', '.join(MODULE_NAMES)}")
    return Path(str(resources.files("scigenbench.metrics").joinpath(name)))


def load_metric(name: str, **kwargs: Any):
    """``evaluate.load`` of one of our modules from the installed package (works offline)."""
    import evaluate

    return evaluate.load(str(module_path(name)), **kwargs)


def _backend(spec: Any, options: dict[str, Any] | None, role: str) -> Any:
    from scigenbench.metrics.specs import resolve_backend

    if spec is None:
        raise ValueError(f"{role}= is required: a backend spec such as 'openai:gpt-4o-mini@http://host/v1', "
                         "'fake' (with judge_options={'responses': [...]}) or 'ocr' (quizzes only)")
    return resolve_backend(spec, **dict(options or {}))


def _rows(n: int, ids: Sequence[str] | None, domains: Sequence[str] | None,
          image_types: Sequence[str | None] | None) -> list[dict[str, Any]]:
    for name, values in (("ids", ids), ("domains", domains), ("image_types", image_types)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries but there are {n} images")
    return [{"id": str(ids[i]) if ids is not None else str(i), "source": "user",
             "domain": domains[i] if domains is not None else None,
             "image_type": image_types[i] if image_types is not None else None} for i in range(n)]


def _flat(summary: dict[str, Any], stats: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for out_name, key in stats.items():
        stat = summary[key]
        # the headline is strict: a generator is not rewarded for failing (missing="exclude" is upstream-compat)
        out[out_name] = stat["strict"]
        out[f"{out_name}_strict"] = stat["strict"]
        out[f"{out_name}_ci95"] = stat["strict_ci95"]
        out[f"{out_name}_lenient"] = stat["lenient"]
        out[f"{out_name}_lenient_ci95"] = stat["lenient_ci95"]
    cov = summary["coverage"]
    out.update({k: cov[k] for k in ("n_items", "n_scored", "n_unscored", "n_missing", "n_not_applicable")})
    return out


def _score_all(make: Any, n: int) -> list[ItemResult]:
    """``make(i)`` for every item, in order, on the metrics event loop (an item's quizzes run concurrently; the
    items one after another, so a scripted backend answers them in order). For throughput over a whole run use
    :func:`scigenbench.metrics.evaluate_run`, whose ``concurrency`` is requests in flight."""
    from scigenbench.metrics import _calls

    async def run() -> list[ItemResult]:
        return [await make(i) for i in range(n)]

    return _calls.run_sync(run())


def _finish(out: dict[str, Any], records: list[ItemResult], return_records: bool) -> dict[str, Any]:
    if return_records:
        out["records"] = [r.to_dict() for r in records]
    return out


def compute_judge(images: Sequence[Any], questions: Sequence[str], *, judge: Any, judge_options: dict | None,
                  ids=None, domains=None, image_types=None, n_boot: int = 0, return_records: bool = False
                  ) -> dict[str, Any]:
    from scigenbench.metrics.judge import ajudge_item
    from scigenbench.metrics.parsing import JUDGE_DIMENSIONS

    if len(images) != len(questions):
        raise ValueError(f"got {len(images)} images but {len(questions)} questions")
    backend = _backend(judge, judge_options, "judge")
    rows = _rows(len(images), ids, domains, image_types)
    records = _score_all(lambda i: ajudge_item({**rows[i], "question": questions[i]}, images[i], backend), len(rows))
    summary = aggregate.summarize(records, "judge", n_boot=n_boot, breakdowns=False)
    out = _flat(summary, {"overall": "overall", **{d: d for d in JUDGE_DIMENSIONS}})
    out.update(judge_model=(summary["judge_models"] or [None])[0], prompt_version=summary["prompt_versions"])
    return _finish(out, records, return_records)


def compute_quiz(images: Sequence[Any], quizzes: Sequence[list[dict[str, Any]]], *, judge: Any,
                 judge_options: dict | None, grader: Any = None, grader_options: dict | None = None,
                 blind: bool = False, ids=None, domains=None, image_types=None, n_boot: int = 0,
                 return_records: bool = False) -> dict[str, Any]:
    from scigenbench.metrics.quiz import aquiz_item, guessing_baseline

    if len(images) != len(quizzes):
        raise ValueError(f"got {len(images)} images but {len(quizzes)} quiz lists")
    answerer = _backend(judge, judge_options, "judge")
    grader_backend = _backend(grader, grader_options, "grader") if grader is not None else None
    rows = _rows(len(images), ids, domains, image_types)
    problems = [{**row, "quizzes": [_quiz(q) for q in (json.loads(qs) if isinstance(qs, str) else qs or [])]}
                for row, qs in zip(rows, quizzes)]
    records = _score_all(lambda i: aquiz_item(problems[i], images[i], answerer, grader=grader_backend, blind=blind),
                         len(problems))
    summary = aggregate.summarize(records, "quiz_blind" if blind else "quiz", n_boot=n_boot, breakdowns=False)
    out = _flat(summary, {"quiz_acc_micro": "quiz_acc_micro", "quiz_acc_macro": "quiz_acc_macro",
                          "perfect_image_rate": "perfect_image_rate"})
    baseline = guessing_baseline(problems)
    out.update(answer_calls=summary["answer_calls"], grader_calls=summary["grader_calls"],
               guessing_baseline_micro=baseline.get("best_micro"), guessing_baseline_letter=baseline.get("best_letter"),
               judge_model=(summary["judge_models"] or [None])[0], proxy=summary["proxy"], blind=blind)
    return _finish(out, records, return_records)


def _quiz(q: dict[str, Any] | str) -> dict[str, Any]:
    """A quiz in the metric's form from what a user, ``load_scigenbench``, an export or the Hub dataset gives:
    extra keys ignored, options as a dict (or its JSON text) with absent letters missing or ``None``, validation's
    ``scorable``/``defects`` kept when present."""
    q = json.loads(q) if isinstance(q, str) else q
    options = q.get("options") or {}
    options = json.loads(options) if isinstance(options, str) else dict(options)
    defects = q.get("defects") or []
    return {"question": q["question"], "options": {k: options.get(k) for k in "ABCDE"},
            "correct_option": q["correct_option"], "scorable": q.get("scorable") is not False,
            "defects": list(defects) if isinstance(defects, (list, tuple)) else []}


def compute_rinv(images: Sequence[Any], questions: Sequence[str], answers: Sequence[str], *, judge: Any,
                 judge_options: dict | None, grader: Any = None, grader_options: dict | None = None, ids=None,
                 domains=None, image_types=None, n_boot: int = 0, return_records: bool = False) -> dict[str, Any]:
    from scigenbench.metrics.rinv import arinv_item

    if not len(images) == len(questions) == len(answers):
        raise ValueError(f"got {len(images)} images, {len(questions)} questions and {len(answers)} answers")
    answerer = _backend(judge, judge_options, "judge")
    grader_backend = _backend(grader, grader_options, "grader") if grader is not None else None
    rows = _rows(len(images), ids, domains, image_types)
    problems = [{**row, "question": q, "multimodal_question": q or None, "answer": a}
                for row, q, a in zip(rows, questions, answers)]
    records = _score_all(lambda i: arinv_item(problems[i], images[i], answerer, grader=grader_backend), len(rows))
    summary = aggregate.summarize(records, "rinv", n_boot=n_boot, breakdowns=False)
    out = _flat(summary, {"rinv_acc": "rinv_acc"})
    out.update(by_method=summary["by_method"], judge_model=(summary["judge_models"] or [None])[0])
    return _finish(out, records, return_records)


def compute_fidelity(images: Sequence[Any], references: Sequence[Any], *, texts: Sequence[str] | None = None,
                     mode: str = "default", clip_model: Any = None, feature_extractor: Any = None,
                     fid: bool = False, return_records: bool = False) -> dict[str, Any]:
    from scigenbench.metrics import fidelity

    if len(images) != len(references):
        raise ValueError(f"got {len(images)} images but {len(references)} references")
    rows = _rows(len(images), None, None, None)
    records = [fidelity.fidelity_item(row, img, ref, mode=mode) for row, img, ref in zip(rows, images, references)]
    summary = aggregate.summarize(records, "fidelity", breakdowns=False)
    cov = summary["coverage"]
    out: dict[str, Any] = {"psnr": summary["psnr"]["mean"], "ssim": summary["ssim"]["mean"], "n_pairs":
                           summary["psnr"]["n"], "mode": mode,
                           **{k: cov[k] for k in ("n_items", "n_scored", "n_unscored", "n_missing")}}
    pairs = [(img, ref, i) for i, (img, ref) in enumerate(zip(images, references))
             if img is not None and ref is not None and records[i].state == "scored"]
    if clip_model is not None:
        if texts is None or len(texts) != len(images):
            raise ValueError("clip_model= needs texts= (one question per image) to compute the CLIP score")
        model, processor, tokenizer = (clip_model if isinstance(clip_model, (tuple, list))
                                       else fidelity.load_clip(clip_model))
        scores = fidelity.clip_scores([p[0] for p in pairs], [texts[p[2]] for p in pairs], model=model,
                                      processor=processor, tokenizer=tokenizer, mode=mode)
        out["clip_score"] = sum(scores) / len(scores) if scores else None
    if fid or feature_extractor is not None:
        out.update({f"fid_{k}" if k != "fid" else k: v for k, v in fidelity.fid_kid(
            [p[0] for p in pairs], [p[1] for p in pairs], feature_extractor=feature_extractor, mode=mode).items()})
    return _finish(out, records, return_records)
