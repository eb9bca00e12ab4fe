"""`scigenbench demo`: the README's main command. Offline, on the bundled mini set:

1. load and summarise the mini set, and say up front what this machine lacks and what that skips;
2. generate it with ImgCoder over the ``replay`` backbone (the mini set's reference programs, rendered in the
   sandbox) and with the ``text-card`` baseline;
3. score both runs with the ``ocr`` proxy answerer (labelled a proxy) and print the leaderboard.

Each step is one function of :data:`STEPS`; a new step is one more entry.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

HELP = "offline demo: load the mini set, generate it (ImgCoder replay + text-card), score with the OCR proxy"
#: the script that installs the system tools (run by `make demo` and `.ci/run`)
INSTALL_SCRIPT = "tools/install-system-tools.sh"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--no-score", action="store_true", help="stop after generation")


def run(args: argparse.Namespace) -> int:
    state: dict = {"out": Path(args.out)}
    for step in STEPS:
        if step(args, state) is False:
            break
    return 0


def show_mini_set(args: argparse.Namespace, state: dict) -> None:
    from scigenbench.dataset import load_mini_problems

    problems = load_mini_problems()
    print(f"Mini set: {len(problems)} problems, {len({p['image_type'] for p in problems})} image types")
    for domain, n in sorted(Counter(p["domain"] for p in problems).items()):
        print(f"  {domain:<10} {n}")


def show_missing_tools(args: argparse.Namespace, state: dict) -> None:
    """The banner printed before any work: each missing tool, its fix, and what the demo skips without it."""
    from scigenbench.generators.demo import missing_tools

    missing = missing_tools()
    if not args.no_score:
        from scigenbench.metrics.demo import ocr_problem

        problem = ocr_problem()
        if problem:
            missing.append((problem, "quiz scores are not run (shown as 'not run', never as 0 %)"))
    print()
    print(format_banner(missing))


def format_banner(missing: list[tuple[str, str]]) -> str:
    if not missing:
        return "System tools: everything the demo uses is installed."
    lines = ["=" * 100, "This machine lacks tools the demo uses; it runs anyway, without them:"]
    for what, skipped in missing:
        lines += [f"  - missing: {what}", f"    so: {skipped}"]
    lines += [f"Install them (Debian/Ubuntu, needs root or sudo): sh {INSTALL_SCRIPT} demo   (`make demo` runs it)",
              "=" * 100]
    return "\n".join(lines)


def generate(args: argparse.Namespace, state: dict) -> bool | None:
    from scigenbench.generators.demo import generate_demo

    print()
    runs = generate_demo(state["out"])
    state["runs"] = runs
    print("\nImages:")
    for name, run_dir in runs.items():
        print(f"  {name:<10} {run_dir}")
    return False if args.no_score else None


def score(args: argparse.Namespace, state: dict) -> None:
    from scigenbench.metrics.demo import score_demo

    out = state["out"] / "leaderboard"
    print("\nScoring the images with the OCR proxy (one to a few seconds per image) ...", flush=True)
    print(score_demo([Path(d) for d in state["runs"].values()], out, progress=True))
    if (out / "leaderboard.md").exists():
        print(f"\nLeaderboard files: {out}")
    print("Next, data synthesis offline (text QA → verified image+question training data): "
          "scigenbench synthesize --demo --out syn_demo")


STEPS = [show_mini_set, show_missing_tools, generate, score]
