"""`scigenbench info`, `scigenbench validate`, `scigenbench export`: the data commands.

- ``info``: load a config and print counts per domain and image type.
- ``validate``: print the validation report (every defect by split, id, quiz, field, code and reason).
- ``export``: write Parquet shards + a dataset card that plain ``load_dataset(<folder>, "scigen")`` reads.
"""

from __future__ import annotations

import argparse
import sys

_CONFIGS = ("scigen", "seephys", "mini")


def _add_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None,
                        help="local copy of the upstream data/ folder (default: $SCIGENBENCH_DATA_DIR, else download "
                             "at the pinned upstream commit)")
    parser.add_argument("--cache-dir", default=None, help="datasets cache dir (default: the HF datasets cache)")


# ------------------------------------------------------------------------------------------------ info

HELP_info = "summarise a SciGenBench config: rows, quizzes, counts per domain and image type"


def add_arguments_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", choices=_CONFIGS, default="mini", help="which config (default: mini)")
    _add_source(parser)


def run_info(args: argparse.Namespace) -> int:
    from scigenbench.dataset import load_mini_problems
    from scigenbench.dataset.builder import dataset_summary

    if args.config == "mini":
        rows = load_mini_problems()  # no datasets cache needed
    else:
        from scigenbench.dataset import load_scigenbench

        rows = load_scigenbench(args.config, data_dir=args.data_dir, cache_dir=args.cache_dir)
    summary = dataset_summary(rows)
    print(f"SciGenBench {args.config}: {summary['rows']} problems, {summary['quizzes']} quizzes")
    print("\nper domain:")
    for domain, n in sorted(summary["domains"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {domain:<12} {n:>5}")
    print("\nper image type:")
    for image_type, n in sorted(summary["image_types"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {image_type:<36} {n:>5}")
    return 0


# ------------------------------------------------------------------------------------------------ validate

HELP_validate = "validate a config against the schema and print every data defect (id, quiz, field, reason)"


def add_arguments_validate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", choices=_CONFIGS + ("all",), default="all",
                        help="which config; 'all' = scigen + seephys (default)")
    parser.add_argument("--data-dir", default=None,
                        help="local copy of the upstream data/ folder (default: $SCIGENBENCH_DATA_DIR, else the "
                             "pinned upstream JSON files are downloaded; image checks then skipped)")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown", help="output format")
    parser.add_argument("--max-per-code", type=int, default=None,
                        help="markdown: list at most N issues per code and split (default: all)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when an error-level issue is found")


def run_validate(args: argparse.Namespace) -> int:
    from scigenbench.dataset import validate_mini

    if args.config == "mini":
        _, report = validate_mini()
    else:
        from scigenbench.dataset.builder import validate_upstream

        splits = ("scigen", "seephys") if args.config == "all" else (args.config,)
        try:
            report = validate_upstream(splits, data_dir=args.data_dir)
        except (OSError, ValueError) as exc:  # ConnectionError is an OSError
            print(f"scigenbench validate: {type(exc).__name__}: {exc}\nPass --data-dir (the upstream data/ folder "
                  "with scigen.json, seephys.json, seephys_images/) or set SCIGENBENCH_DATA_DIR.", file=sys.stderr)
            return 2
        from scigenbench.dataset.sources import resolve_data_dir

        if "seephys" in splits and resolve_data_dir(args.data_dir) is None:
            print("scigenbench validate: no local copy, so the SeePhys image checks (MISSING_IMAGE, D15) were "
                  "skipped; pass --data-dir to run them.", file=sys.stderr)
    if args.format == "json":
        print(report.to_json())
    else:
        print(report.to_markdown(max_issues_per_code=args.max_per_code))
    return 1 if args.strict and not report.ok else 0


# ------------------------------------------------------------------------------------------------ export

HELP_export = "export configs as Parquet shards + dataset card, loadable with plain datasets.load_dataset"


def add_arguments_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--configs", nargs="+", choices=_CONFIGS, default=list(_CONFIGS),
                        help="configs to export (default: all three)")
    _add_source(parser)


def run_export(args: argparse.Namespace) -> int:
    from scigenbench.dataset.export import export_dataset

    out = export_dataset(args.out, args.configs, data_dir=args.data_dir, cache_dir=args.cache_dir)
    print(f"Exported {', '.join(args.configs)} to {out}")
    print(f"Load with: datasets.load_dataset({str(out)!r}, {args.configs[0]!r}, split='test')")
    print(f"Push with: python -m scigenbench.scripts.push_to_hub {out} <user>/<repo>")
    return 0
