"""`scigenbench export-training SYN_DIR --format verl|trl|llamafactory|easyr1 --out DIR`."""

from __future__ import annotations

import argparse

HELP = "export a synthesis' verified dataset for VeRL, TRL, LLaMA-Factory or EasyR1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from scigenbench.training.exports import DEFAULT_INSTRUCTION, FORMATS

    parser.add_argument("syn_dir", metavar="SYN_DIR", help="folder written by `scigenbench synthesize` (its "
                        "verified/ dataset is exported), or a verified dataset folder itself")
    parser.add_argument("--format", required=True, choices=FORMATS, help="the trainer's data layout")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--test-fraction", type=float, default=0.0,
                        help="share of items held out as a test split (default 0: train only)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the item order for the split and --limit")
    parser.add_argument("--limit", type=int, help="keep the first N training items of the seeded order "
                        "(nested subsets for data-size sweeps; the test split does not change)")
    parser.add_argument("--instruction", default=DEFAULT_INSTRUCTION,
                        help="text after each question; it must ask for the final answer in \\boxed{}")


def run(args: argparse.Namespace) -> int:
    from scigenbench.training.exports import export_training

    result = export_training(args.syn_dir, args.format, args.out, test_fraction=args.test_fraction,
                             seed=args.seed, limit=args.limit, instruction=args.instruction)
    print(result.summary())
    for skipped in result.skipped[:5]:
        print(f"  skipped {skipped['id']}: {skipped['reason']}")
    if len(result.skipped) > 5:
        print(f"  ... and {len(result.skipped) - 5} more (export.json lists all)")
    return 0
