"""A SYN_DIR fixture in the verified contract (Parquet + card under ``verified/``), with real matplotlib PNGs."""

from __future__ import annotations

import io
import json
from pathlib import Path

PROBLEMS = [
    # id, domain, image type, question, answer, solution
    ("geo-1", "Math", "Math - Plane Geometric", "In the triangle shown, find the hypotenuse.", "5",
     "By Pythagoras, sqrt(3^2 + 4^2) = 5."),
    ("phy-1", "Physics", "Physics - Mechanical", "The block in the figure has the mass shown and the force shown. "
     "Find its acceleration.", "2 m/s^2", None),
    ("chem-1", "Chemistry", "Universal - Plot & Chart", "From the bar chart, how many moles of gas B are there?",
     "0.25", "The bar for B reads 0.25 mol."),
    ("bio-1", "Biology", "Universal - Table / Grid", "Which option in the figure is the dominant allele?", "B", None),
    ("phy-2", "Physics", "Physics - Waveform", "What is the period of the wave shown, in seconds?", "\\frac{1}{2}",
     "Two cycles fit in one second, so T = 1/2 s."),
    ("math/2", "Math", "Math - Analytic Geometry", "Find the slope of the line drawn.", "-3", None),
]


def figure_png(kind: int) -> bytes:
    """A small real figure (different for each ``kind``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6, 1.2), dpi=40)
    if kind % 3 == 0:
        ax.plot([0, 4, 0, 0], [0, 0, 3, 0], "k-")
        ax.text(2, -0.5, "4")
        ax.text(-0.5, 1.5, "3")
    elif kind % 3 == 1:
        ax.bar(["A", "B", "C"], [0.5, 0.25, 1.0])
    else:
        ax.plot([0, 1, 2, 3], [0, kind, 2 * kind, 3 * kind])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def make_syn_dir(root: Path, problems=PROBLEMS) -> Path:
    """``root/verified`` in the contract: ``data/train-*.parquet`` + ``README.md``; returns ``root``."""
    import datasets

    rows = [{"id": pid, "image": {"bytes": figure_png(i), "path": None}, "question": question, "answer": answer,
             "original_question": f"Original text of {pid}: {question}", "solution": solution, "domain": domain,
             "image_type": image_type, "data_source": "scigenbench-synth/test",
             "quizzes": json.dumps([{"question": "q", "options": {"A": "1", "B": "2"}, "correct_option": "A"}]),
             "verification": json.dumps({"quiz_acc": 1.0, "rinv": 1.0})}
            for i, (pid, domain, image_type, question, answer, solution) in enumerate(problems)]
    text = datasets.Value("string")
    features = datasets.Features({"id": text, "image": datasets.Image(), "question": text, "answer": text,
                                  "original_question": text, "solution": text, "domain": text, "image_type": text,
                                  "data_source": text, "quizzes": text, "verification": text})
    folder = Path(root) / "verified"
    (folder / "data").mkdir(parents=True)
    shard = folder / "data" / "train-00000-of-00001.parquet"
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(shard))
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                      "    path: data/train-*\n---\n# verified (test fixture)\n", encoding="utf-8")
    return Path(root)


# --- a tiny randomly initialised vision-language model, built offline ----------------------------------------

def tiny_vlm(path: Path) -> Path:
    """Save a tiny random LLaVA (CLIP vision tower + 1-layer Llama, byte-level tokenizer) with its processor.

    The same model as the transformers-backend tests (no torchvision needed, nothing downloaded).
    """
    from test_backends_transformers import build_tiny_llava

    return Path(build_tiny_llava(path))


def probe_reward(completions, solution, **kwargs):
    """A TRL reward for tests: varies with the completion text (so GRPO advantages are not all zero and the step
    changes weights) and records what the trainer passed (``$SCIGENBENCH_PROBE_FILE``)."""
    import hashlib
    import os

    texts = [c[-1]["content"] if isinstance(c, list) else str(c) for c in completions]
    texts = [t if isinstance(t, str) else json.dumps(t) for t in texts]
    path = os.environ.get("SCIGENBENCH_PROBE_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"solution": list(solution), "kinds": [type(c).__name__ for c in completions],
                                "texts": texts}) + "\n")
    return [hashlib.sha256(t.encode("utf-8", "replace")).digest()[0] / 255 for t in texts]
