"""Upstream's ImgCoder entry point, mapped onto scigenbench's generation runner.

    python -m scigenbench.scripts.run_imgcoder --input_file problems.json --backbone openai:gpt-4o \\
        --output_dir runs/my-imgcoder

``--input_file`` is a JSON list of problems in the upstream raw schema (``scigen.json`` / ``seephys.json`` shape:
``id``, ``question``, ``image_type``, ``answer``, ``elements``, ``quizzes`` ...). It is normalised and validated by
the data layer (ids become strings, malformed quiz options are repaired, defects are reported), then generated
exactly like ``scigenbench generate --generator imgcoder``: a resumable run folder in ``--output_dir``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

SPLITS = ("auto", "scigen", "seephys", "mini")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run_imgcoder", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--input_file", required=True, help="JSON list of problems in the upstream raw schema")
    parser.add_argument("--backbone", required=True, metavar="SPEC",
                        help="chat model: openai:<model>[@<base_url>], hf-inference:<model>, transformers:<path>, "
                             "replay:<file>, fake")
    parser.add_argument("--output_dir", required=True, help="run folder (created or resumed)")
    parser.add_argument("--split", choices=SPLITS, default="auto",
                        help="schema of the input (auto: seephys when every id is an integer and image_type is "
                             "empty, else scigen)")
    parser.add_argument("--max_workers", "--concurrency", dest="concurrency", type=int, default=4,
                        help="items generated in parallel (default: 4)")
    parser.add_argument("--limit", type=int, help="only the first N problems")
    parser.add_argument("--budget", type=float, metavar="USD", help="stop starting new items past this cost")
    parser.add_argument("--retry_failed", "--retry-failed", dest="retry_failed", action="store_true",
                        help="also regenerate ids whose last attempt failed")
    parser.add_argument("--force", action="store_true", help="write into a folder made with another config")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="ImgCoder option, e.g. -o stages=single -o few_shot=2 -o max_repair_rounds=0")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def load_input(path: str | Path, split: str = "auto") -> tuple[list[dict[str, Any]], str, Any]:
    """Read and normalise an upstream-schema JSON file. Returns ``(rows, split, validation report)``."""
    from scigenbench.dataset.validation import normalise_rows, read_json_rows

    raw_rows, issues = read_json_rows(path, split if split != "auto" else "scigen")
    if split == "auto":
        split = detect_split(raw_rows)
    rows, report = normalise_rows(raw_rows, split)
    report.issues[:0] = issues
    return rows, split, report


def generatable(problems: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The rows that can be generated, and ``(id, reason)`` for those that cannot.

    A row without an id (the data layer names it ``<row N>`` after its position, which changes when the file is
    edited, so a resumed run could not find it again) or without a question (nothing to draw; the model would
    be paid to guess) is skipped and reported, never sent to the model.
    """
    keep, skipped = [], []
    for row in problems:
        flags = set(row.get("flags") or [])
        if "SCHEMA:id" in flags:
            skipped.append((row["id"], "no id in the input row"))
        elif "SCHEMA:question" in flags or not str(row.get("question") or "").strip():
            skipped.append((row["id"], "no question text"))
        else:
            keep.append(row)
    return keep, skipped


def detect_split(raw_rows: list[Any]) -> str:
    """``seephys`` when every id is an integer and no row has an image type (the SeePhys file), else ``scigen``."""
    dicts = [r for r in raw_rows if isinstance(r, dict)]
    if dicts and all(isinstance(r.get("id"), int) and not r.get("image_type") for r in dicts):
        return "seephys"
    return "scigen"


def main(argv: list[str] | None = None) -> int:
    from scigenbench.scripts.cmd_generate import user_errors, build_generator, generate, parse_options

    args = build_parser().parse_args(argv)
    try:
        problems, split, report = load_input(args.input_file, args.split)
        duplicates = sorted({i.id for i in report.issues if getattr(i, "code", "") == "DUP_ID"})
        if duplicates:
            raise ValueError(f"{args.input_file}: id(s) used by several rows: {', '.join(duplicates[:10])}; every "
                             "problem needs its own id (one image is stored per id)")
        problems, skipped = generatable(problems)
        for row_id, reason in skipped:
            print(f"skipped {row_id}: {reason}", file=sys.stderr)
        if not problems:
            raise ValueError(f"{args.input_file}: no row can be generated ({len(skipped)} skipped, see above)")
        if args.limit is not None:
            args.selection = {"n_split": len(problems), "criteria": {"limit": args.limit}}
            problems = problems[: max(0, args.limit)]
        generator = build_generator("imgcoder", backbone=args.backbone, budget_usd=args.budget,
                                    **{"concurrency": args.concurrency, **parse_options(args.option)})
    except user_errors() as exc:
        print(f"run_imgcoder: error: {exc}", file=sys.stderr)
        return 2
    errors = [i for i in report.issues if getattr(i, "severity", "") == "error"]
    print(f"{args.input_file}: {len(problems)} problem(s) as {split}; {len(report.issues)} data issue(s)"
          + (f", {len(errors)} error(s) (e.g. {errors[0].id}: {errors[0].reason})" if errors else "")
          + (f"; {len(skipped)} row(s) skipped" if skipped else ""))
    args.out, args.dataset = args.output_dir, split
    return generate(generator, problems, args)


if __name__ == "__main__":
    sys.exit(main())
