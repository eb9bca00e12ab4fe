"""The `ocr` proxy's two engines on the mini references: accuracy, abstentions, seconds per image.

Workload: the mini set's 26 reference programs rendered in the sandbox (the 4 TikZ ones only when pdflatex and
pdftoppm are on PATH), i.e. the images `scigenbench demo` scores for ImgCoder. Every scorable quiz is asked to
each engine through the proxy backend (no response cache); the constant-letter guessing baseline is printed for
the same quizzes.

Columns: accuracy = correct / quizzes (an abstention counts wrong, as in the quiz metric); precision = correct /
answered; abstentions = quizzes answered without a letter; s/image = OCR time per image (median, after one warm-up
image, model load excluded).

Run: ``.venv/bin/python benchmarks/bench_ocr_proxy.py [--engines rapidocr,tesseract]`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

REFERENCES = Path(__file__).resolve().parents[1] / "scigenbench_dataset" / "mini" / "references"


def render_references(problems: list[dict]) -> dict[str, bytes]:
    """PNG bytes of each reference program that renders here, by problem id."""
    from scigenbench.generators.sandbox import RendererPool

    tikz = bool(shutil.which("pdflatex") and shutil.which("pdftoppm"))
    images = {}
    with RendererPool(workers=2) as pool:
        for p in problems:
            for suffix, language in ((".py", "python"), (".tex", "tikz")):
                path = REFERENCES / f"{p['id']}{suffix}"
                if path.exists() and (language == "python" or tikz):
                    result = pool.render(path.read_text(), language, timeout=60, dpi=150)
                    if result.status == "ok":
                        images[p["id"]] = result.png
    return images


def measure(engine: str, problems: list[dict], images: dict[str, bytes]) -> dict:
    from scigenbench.metrics.ocr import OCRProxyBackend, ocr_image
    from scigenbench.metrics.parsing import extract_letter
    from scigenbench.metrics.quiz import _is_scorable, offered_letters, quiz_prompt

    backend = OCRProxyBackend(engine)
    ocr_image(next(iter(images.values())), engine)  # warm-up: model load
    seconds = []
    for data in images.values():
        started = time.perf_counter()
        backend._ocr(data)  # fills the per-image cache the quizzes below use
        seconds.append(time.perf_counter() - started)
    n = correct = abstained = 0
    for p in problems:
        if p["id"] not in images:
            continue
        for quiz in p["quizzes"]:
            if not _is_scorable(quiz)[0]:
                continue
            reply = backend.chat([{"role": "user", "content": [{"type": "text", "text": quiz_prompt(quiz)},
                                                               {"type": "image", "image": images[p["id"]]}]}])
            letter = extract_letter(reply.text, offered_letters(quiz)).letter
            n += 1
            abstained += letter is None
            correct += letter == quiz["correct_option"]
    answered = n - abstained
    return {"engine": engine, "model": backend.model, "quizzes": n, "correct": correct, "abstained": abstained,
            "accuracy": correct / n, "precision": correct / answered if answered else None,
            "s_per_image": statistics.median(seconds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="rapidocr,tesseract")
    args = parser.parse_args()
    from scigenbench.dataset import load_mini_problems
    from scigenbench.metrics.ocr import engine_problem
    from scigenbench.metrics.quiz import _is_scorable, guessing_baseline

    problems = load_mini_problems()
    images = render_references(problems)
    rendered = [p for p in problems if p["id"] in images]
    baseline = guessing_baseline(rendered)
    print(f"workload: {len(images)} rendered mini references, {baseline['n_quizzes']} scorable quizzes")
    print("| answerer | accuracy | precision (answered) | abstentions | s/image |")
    print("|---|---|---|---|---|")
    for engine in args.engines.split(","):
        problem = engine_problem(engine)
        if problem:
            print(f"| {engine} | not run: {problem} | | | |")
            continue
        r = measure(engine, rendered, images)
        precision = "–" if r["precision"] is None else f"{r['precision']:.1%}"
        print(f"| {r['model']} | {r['accuracy']:.1%} ({r['correct']}/{r['quizzes']}) | {precision} | "
              f"{r['abstained']}/{r['quizzes']} ({r['abstained'] / r['quizzes']:.0%}) | {r['s_per_image']:.2f} |")
    print(f"| guessing baseline (always {baseline['best_letter']}) | {baseline['best_micro']:.1%} | "
          f"{baseline['best_micro']:.1%} | 0 | 0 |")
    n_scorable = sum(_is_scorable(q)[0] for p in rendered for q in p["quizzes"])
    assert n_scorable == baseline["n_quizzes"]
    return 0


if __name__ == "__main__":
    sys.exit(main())
