"""The benchmark's tasks on the Hugging Face Hub: what ``eval.yaml`` registers and ``.eval_results/`` entries name.

The Hub aggregates results from model repos' ``.eval_results/*.yaml`` files on a *benchmark dataset*'s
leaderboard (https://huggingface.co/docs/hub/eval-results). A benchmark dataset registers its tasks in an
``eval.yaml`` at the repo root; each result entry names one of them in ``dataset.task_id``. Here one task is one
headline metric of one config: ``<config>_<metric>`` (e.g. ``scigen_r_inv``, ``seephys_quiz_acc``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: the identifier of the evaluation harness named in eval.yaml and in each result entry
EVALUATION_FRAMEWORK = "scigenbench"
#: configs whose results a leaderboard ranks (``mini`` is the offline smoke-test set, listed for completeness)
HUB_CONFIGS = ("scigen", "seephys", "mini")
#: metric key -> (what it is, unit); every config has every metric except fidelity (SeePhys only: it needs the
#: reference figures)
HUB_METRICS: dict[str, tuple[str, str]] = {
    "r_inv": ("R_inv: the original problem answered correctly from the figure alone (strict)", "%"),
    "quiz_acc": ("inverse-quiz accuracy, micro over quizzes (strict)", "%"),
    "perfect_image_rate": ("share of items whose quizzes are all answered correctly (strict)", "%"),
    "blind_quiz_acc": ("quiz accuracy without the figure (guessability; lower is better)", "%"),
    "judge_overall": ("LMM judge, mean of the five rubric dimensions (strict)", "0-2"),
    "judge_correctness_fidelity": ("LMM judge: Correctness & Fidelity", "0-2"),
    "judge_layout_precision": ("LMM judge: Layout & Precision", "0-2"),
    "judge_readability_occlusion": ("LMM judge: Readability & Occlusion", "0-2"),
    "judge_scientific_plausibility": ("LMM judge: Scientific Plausibility", "0-2"),
    "judge_expressiveness_richness": ("LMM judge: Expressiveness & Richness", "0-2"),
    "psnr": ("PSNR against the SeePhys reference figure", "dB"),
    "ssim": ("SSIM against the SeePhys reference figure", "0-1"),
}
FIDELITY_METRICS = ("psnr", "ssim")


def task_id(config: str, metric: str) -> str:
    """The Hub task id of ``metric`` on ``config`` (``scigen_r_inv``)."""
    if metric not in HUB_METRICS:
        raise ValueError(f"unknown Hub metric {metric!r}; choose from {', '.join(HUB_METRICS)}")
    return f"{config}_{metric}"


def hub_tasks(configs: tuple[str, ...] = HUB_CONFIGS) -> list[dict[str, str]]:
    """Every task as ``{"id", "config", "split"}`` (the eval.yaml task shape)."""
    return [{"id": task_id(config, metric), "config": config, "split": "test"}
            for config in configs for metric in HUB_METRICS
            if metric not in FIDELITY_METRICS or config == "seephys"]


def eval_yaml(configs: tuple[str, ...] = HUB_CONFIGS) -> dict[str, Any]:
    """The content of the benchmark dataset's ``eval.yaml``."""
    return {"name": "SciGenBench",
            "description": ("Scientific image synthesis: a generator draws the figure of a science problem; the figure "
                            "is scored by inverse quiz validation (quizzes and the original problem answered from "
                            "the figure alone), an LMM judge on five 0-2 dimensions and, for SeePhys, fidelity to "
                            "the reference figure. Task ids are <config>_<metric>."),
            "evaluation_framework": EVALUATION_FRAMEWORK,
            "tasks": hub_tasks(configs)}


def write_eval_yaml(out_dir: str | Path, configs: tuple[str, ...] = HUB_CONFIGS) -> Path:
    """Write ``eval.yaml`` into a dataset folder (the repo root when uploaded)."""
    import yaml

    path = Path(out_dir) / "eval.yaml"
    path.write_text(yaml.safe_dump(eval_yaml(configs), sort_keys=False, allow_unicode=True, width=100),
                    encoding="utf-8")
    return path
