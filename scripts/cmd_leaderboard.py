"""`scigenbench leaderboard`: tables and plots from evaluated run folders, next to the paper's published rows."""

from __future__ import annotations

import argparse

HELP = "build the leaderboard (Markdown, CSV, HTML, plots) from evaluated run folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders evaluated with `scigenbench evaluate`")
    parser.add_argument("--out", required=True, help="output folder for the tables and plots")
    parser.add_argument("--no-published", action="store_true", help="leave out the paper's published rows")
    parser.add_argument("--title", default="SciGenBench leaderboard", help="title of the tables")


def run(args: argparse.Namespace) -> int:
    from scigenbench.metrics.leaderboard import build_leaderboard

    markdown = build_leaderboard(args.runs, args.out, include_published=not args.no_published, title=args.title)
    print(markdown)
    print(f"\nwritten to {args.out}")
    return 0


HELP_leaderboard, add_arguments_leaderboard, run_leaderboard = HELP, add_arguments, run
