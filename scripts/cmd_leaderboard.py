"""`scigenbench leaderboard`: tables and plots from evaluated run folders, next to the paper's published rows."""

from __future__ import annotations

import argparse

HELP = "build the leaderboard (Markdown, CSV, HTML, plots) from evaluated run folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders evaluated with `scigenbench evaluate`")
    parser.add_argument("--out", required=True, help="output folder for the tables and plots")
    parser.add_argument("--no-published", action="store_true", help="leave out the paper's published rows")
    parser.add_argument("--title", default="SciGenBench leaderboard", help="title of the tables")
    parser.add_argument("--hub-results", default=None, metavar="DIR",
                        help="also write each run's Hub Eval Results files: DIR/<run>/.eval_results/*.yaml (upload "
                             "them to the generator's model repo)")
    parser.add_argument("--hub-dataset", default=None, metavar="REPO_ID",
                        help="benchmark dataset the Hub entries point to (default: SciGenBench/SciGenBench)")


def run(args: argparse.Namespace) -> int:
    from scigenbench.metrics.leaderboard import build_leaderboard

    markdown = build_leaderboard(args.runs, args.out, include_published=not args.no_published, title=args.title)
    print(markdown)
    print(f"\nwritten to {args.out}")
    if args.hub_results:
        _write_hub_results(args)
    return 0


def _write_hub_results(args: argparse.Namespace) -> None:
    from scigenbench.metrics.hub_results import DEFAULT_HUB_DATASET, write_hub_results
    from scigenbench.metrics.leaderboard import load_run

    written = write_hub_results([load_run(r) for r in args.runs], args.hub_results,
                                args.hub_dataset or DEFAULT_HUB_DATASET)
    for run, info in written.items():
        where = info["file"] or "nothing written"
        print(f"hub results {run}: {info['entries']} entries -> {where}"
              + (f" (left out: {'; '.join(info['skipped'])})" if info["skipped"] else ""))


HELP_leaderboard, add_arguments_leaderboard, run_leaderboard = HELP, add_arguments, run
