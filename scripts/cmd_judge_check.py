"""`scigenbench judge-check`: does a judge notice what is wrong? Scores controlled corruptions of the mini set's
reference figures (made by editing their programs) against the references and reports pairwise discrimination."""

from __future__ import annotations

import argparse
import json

HELP = "sanity-check a judge on controlled corruptions of the mini reference figures (pairwise discrimination)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--judge", default=None,
                        help="backend spec of the judge/answering model (e.g. openai:<model>@<url>), or 'ocr' for the "
                             "offline OCR proxy (quiz metric only)")
    parser.add_argument("--grader", default=None, help="backend spec of the grader (quiz letters, R_inv verdicts)")
    parser.add_argument("--out", required=True,
                        help="output folder: judge_check.json, report.md, scores.jsonl, corruption_set/")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated subset of judge,quiz,rinv (default: all the judge can answer)")
    parser.add_argument("--kinds", default=None, help="comma-separated corruption kinds (default: all)")
    parser.add_argument("--items", default=None, help="comma-separated mini item ids (default: all)")
    parser.add_argument("--export-only", action="store_true",
                        help="build, render and export the corruption set to OUT/corruption_set; score nothing")
    parser.add_argument("--concurrency", type=int, default=16, help="model requests in flight (default 16)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs (default 1000)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per model call attempt")
    parser.add_argument("--no-cache", action="store_true", help="do not use the response cache")
    parser.add_argument("--json", action="store_true", help="print judge_check.json instead of the report")


def _list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scigenbench.metrics.corruptions import build_corruptions, export_set, render_set
    from scigenbench.metrics.judge_check import run_judge_check, to_markdown

    if args.export_only:
        rendered = render_set(build_corruptions(kinds=_list(args.kinds), items=_list(args.items)))
        folder = export_set(rendered, Path(args.out) / "corruption_set")
        print(f"{len(rendered.corruptions)} corruptions of {len(rendered.references)} references written to "
              f"{folder} ({len(rendered.dropped)} left out)")
        return 0
    if not args.judge:
        raise ValueError("--judge SPEC is required (e.g. --judge openai:<model>@<url>, or --judge ocr offline); "
                         "use --export-only to write the corruption set without scoring it")
    options = {"timeout": args.timeout} if args.timeout is not None else {}
    if args.no_cache:
        options["cache"] = False
    report = run_judge_check(args.judge, args.out, grader=args.grader, metrics=_list(args.metrics),
                             kinds=_list(args.kinds), items=_list(args.items), n_boot=args.bootstrap,
                             concurrency=args.concurrency, backend_options=options)
    print(json.dumps(report, indent=1, ensure_ascii=False) if args.json else to_markdown(report))
    print(f"written to {args.out} (judge_check.json, report.md, scores.jsonl, corruption_set/)")
    return 0
