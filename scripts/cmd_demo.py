"""`scigenbench demo`: the README's main command. Offline, on the bundled mini set:

1. load and summarise the mini set;
2. generate it with ImgCoder over the ``replay`` backbone (the mini set's reference programs, rendered in the
   sandbox) and with the ``text-card`` baseline;
3. score both runs with the ``ocr`` proxy answerer (labelled a proxy) and print the leaderboard.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

HELP = "offline demo: load the mini set, generate it (ImgCoder replay + text-card), score with the OCR proxy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--no-score", action="store_true", help="stop after generation")


def run(args: argparse.Namespace) -> int:
    from scigenbench.dataset import load_mini_problems

    out = Path(args.out)
    problems = load_mini_problems()
    print(f"Mini set: {len(problems)} problems, {len({p['image_type'] for p in problems})} image types")
    for domain, n in sorted(Counter(p["domain"] for p in problems).items()):
        print(f"  {domain:<10} {n}")

    from scigenbench.generators.demo import generate_demo

    runs = generate_demo(out)
    run_dirs = [Path(d) for d in runs.values()]
    print("\nImages:")
    for name, run_dir in runs.items():
        print(f"  {name:<10} {run_dir}")
    if args.no_score:
        return 0

    from scigenbench.metrics.demo import score_demo

    print()
    print(score_demo(run_dirs, out / "leaderboard"))
    print(f"\nLeaderboard files: {out / 'leaderboard'}")
    print("Next, data synthesis offline (text QA → verified image+question training data): "
          "scigenbench synthesize --demo --out syn_demo")
    return 0
