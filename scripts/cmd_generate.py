"""`scigenbench generate`: one image per problem into a resumable run folder.

Examples::

    scigenbench generate --dataset mini --generator imgcoder --backbone openai:gpt-4o-mini --out runs/mini-gpt4o
    scigenbench generate --dataset scigen --generator text-card --out runs/scigen-text-card --limit 50
    scigenbench generate --dataset seephys --generator openai-image:gpt-image-1 -o size=1024x1024 --budget 5 \\
        --out runs/seephys-gpt-image-1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from scigenbench.scripts._executor import add_executor_arguments, ray_options

HELP = "generate one image per problem (ImgCoder, text-card, image APIs, Diffusers) into a resumable run folder"

DATASETS = ("mini", "scigen", "seephys")


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad arguments or setup (exit 2 with the message, no traceback)."""
    from scigenbench.generators.backends.base import BackendError  # missing key, unpriced budget, ...

    return (ValueError, KeyError, TypeError, OSError, ImportError, BackendError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Re-running with the same --out resumes: done ids are skipped, failed ids are retried only with "
        "--retry-failed.\nExit status: 0 ok, 1 every attempted item failed, 2 bad arguments, 3 stopped by "
        "--budget, 130 interrupted.")
    parser.add_argument("--dataset", choices=DATASETS, default="mini", help="which problems (default: mini)")
    parser.add_argument("--generator", default="imgcoder", metavar="SPEC",
                        help="imgcoder | text-card | openai-image:<model>[@<base_url>] | diffusers:<model> "
                             "| hunyuan3:<folder> (default: imgcoder)")
    parser.add_argument("--backbone", metavar="SPEC",
                        help="ImgCoder's chat model: openai:<model>[@<base_url>], hf-inference:<model>, "
                             "transformers:<path>, replay:<file>, fake")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created or resumed)")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N selected problems")
    parser.add_argument("--ids", metavar="A,B,...", help="only these problem ids (comma-separated)")
    parser.add_argument("--image-types", metavar="TYPES",
                        help='only these image types, comma-separated, e.g. "Physics - Circuit,Math - Plane Geometric"')
    parser.add_argument("--concurrency", type=int, default=4, metavar="N",
                        help="model requests in flight (ImgCoder: backbone calls across all items; other "
                             "generators: items in parallel); default 4")
    parser.add_argument("--budget", type=float, metavar="USD",
                        help="stop starting new items once this invocation has spent this many US dollars")
    parser.add_argument("--retry-failed", action="store_true", help="also regenerate ids whose last attempt failed")
    parser.add_argument("--force", action="store_true",
                        help="write into a run folder made with another generator configuration")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be generated and an estimate of model calls; call nothing")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="generator option (repeatable; VALUE parsed as JSON when it can be), e.g. -o size=512x512 "
                             "-o include_elements=true -o max_repair_rounds=2")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="local copy of the upstream release (default: $SCIGENBENCH_DATA_DIR or download)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        options = parse_options(args.option)
        split = load_problems(args.dataset, args.data_dir)
        problems = select_problems(split, ids=args.ids, image_types=args.image_types, limit=args.limit)
        args.selection = selection_of(args, len(split))
        if args.dry_run:
            return dry_run(args, problems, options)
        if args.concurrency < 1:
            raise ValueError(f"--concurrency must be at least 1, got {args.concurrency}")
        if args.generator.partition(":")[0] == "imgcoder":
            options.setdefault("concurrency", args.concurrency)  # the backbone's limit: requests in flight
        generator = build_generator(args.generator, backbone=args.backbone, budget_usd=args.budget, **options)
        executor_options = ray_options(args)
    except user_errors() as exc:
        print(f"scigenbench generate: error: {exc}", file=sys.stderr)
        return 2
    return generate(generator, problems, args, executor_options)


def generate(generator, problems: list[dict[str, Any]], args: argparse.Namespace, executor_options: Any = None
             ) -> int:
    """Run the generation and print the summary; returns the exit status."""
    from scigenbench.generators.runner import RunConfigMismatchError, run_generation

    try:
        with generator:
            summary = run_generation(generator, problems, args.out, concurrency=item_workers(generator, args.concurrency),
                                     retry_failed=args.retry_failed, budget_usd=args.budget,
                                     progress=not args.no_progress, dataset=args.dataset, force=args.force,
                                     selection=getattr(args, "selection", None),
                                     executor=getattr(args, "executor", "local"), ray_options=executor_options)
    except (RunConfigMismatchError, ValueError) as exc:  # a foreign run folder; problems without/with duplicate ids
        print(f"scigenbench generate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scigenbench generate: aborted; re-run the same command to resume", file=sys.stderr)
        return 130
    print(summary.format())
    print(f"images and metadata: {Path(args.out).resolve()}")
    return summary.exit_code()


# -- building blocks (also used by scripts/run_imgcoder.py) ----------------------------------------------------

def selection_of(args: argparse.Namespace, n_split: int) -> dict[str, Any]:
    """What ``run.json`` records about the selection (``--ids``, ``--image-types``, ``--limit``)."""
    criteria = {name: getattr(args, name) for name in ("ids", "image_types", "limit")
                if getattr(args, name, None) is not None}
    return {"n_split": n_split, "criteria": criteria}


def item_workers(generator: Any, concurrency: int) -> int:
    """Items worked on at once. ImgCoder's items alternate backbone calls with sandbox renders, so a render slot
    per core is added to the request limit: ``concurrency`` requests stay in flight while other items render."""
    limiter = getattr(getattr(generator, "backend", None), "limiter", None)
    if getattr(generator, "name", None) != "imgcoder" or limiter is None:
        return concurrency
    return limiter.limit + (os.cpu_count() or 1)


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["size=512x512", "n=1"]`` → ``{"size": "512x512", "n": 1}`` (values parsed as JSON when possible)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}")
        try:
            options[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip().replace("-", "_")] = value
    return options


def load_problems(dataset: str, data_dir: str | None = None) -> list[dict[str, Any]]:
    """Problem rows of ``dataset`` as plain dicts (the mini set needs no ``datasets`` round trip)."""
    if dataset == "mini":
        from scigenbench.dataset import load_mini_problems

        return list(load_mini_problems())
    from scigenbench.dataset import load_scigenbench

    return list(load_scigenbench(dataset, data_dir=data_dir))


def select_problems(problems: list[dict[str, Any]], *, ids: str | None = None, image_types: str | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
    """Filter by ``--ids``, then ``--image-types``, then keep the first ``--limit``. Unknown names are errors."""
    if ids:
        wanted = [i.strip() for i in ids.split(",") if i.strip()]
        by_id = {str(p["id"]): p for p in problems}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise ValueError(f"--ids: unknown id(s) {', '.join(missing[:10])}{_did_you_mean(missing[0], by_id)}")
        problems = [by_id[i] for i in dict.fromkeys(wanted)]
    if image_types:
        from scigenbench.dataset import IMAGE_TYPES

        wanted_types = [t.strip() for t in image_types.split(",") if t.strip()]
        unknown = [t for t in wanted_types if t not in IMAGE_TYPES]
        if unknown:
            raise ValueError(f"--image-types: unknown type {unknown[0]!r}{_did_you_mean(unknown[0], IMAGE_TYPES)}. "
                             f"Valid types: {', '.join(IMAGE_TYPES)}")
        problems = [p for p in problems if p.get("image_type") in set(wanted_types)]
        if not problems:
            raise ValueError(f"--image-types {image_types!r} selects no problem (SeePhys problems have no image type)")
    if limit is not None:
        if limit < 1:
            raise ValueError(f"--limit must be at least 1, got {limit}")
        problems = problems[:limit]
    return problems


def build_generator(spec: str, *, backbone: str | None = None, budget_usd: float | None = None, **options: Any):
    """The generator for ``spec``; ``backbone`` goes to generators that use a chat model (ImgCoder)."""
    from scigenbench.generators import get_generator

    kind = spec.partition(":")[0]
    if kind == "imgcoder":
        if not backbone:
            raise ValueError("--generator imgcoder needs --backbone SPEC (e.g. openai:gpt-4o-mini, or "
                             "replay:<file> offline; see `scigenbench demo`)")
        options["backbone"] = backbone
    elif backbone:
        raise ValueError(f"--backbone is only used by --generator imgcoder; {spec!r} does not take it")
    # the backend's own budget is a hard stop before any call that could pass it (the runner's is per item);
    # it needs a price: -o prices=prices.json, -o price_per_image=0.04 or $SCIGENBENCH_PRICES
    paid_backbone = kind == "imgcoder" and backbone.partition(":")[0] not in ("replay", "fake")
    if budget_usd is not None and (kind == "openai-image" or paid_backbone):
        options.setdefault("budget_usd", budget_usd)
    return get_generator(spec, **options)


def dry_run(args: argparse.Namespace, problems: list[dict[str, Any]], options: dict[str, Any]) -> int:
    """Print the work a real run would do; builds the generator (no model calls) to estimate requests."""
    from collections import Counter

    from scigenbench.generators.runner import estimate_requests, plan_work_readonly

    todo, n_done, n_failed = plan_work_readonly(problems, args.out, retry_failed=args.retry_failed)
    print(f"dry run: {args.generator} on {args.dataset}: {len(problems)} selected, {n_done} already done, "
          f"{n_failed} failed ({'retried' if args.retry_failed else 'skipped; --retry-failed retries them'})")
    print(f"would generate {len(todo)} item(s) into {args.out}")
    by_type = Counter(p.get("image_type") or p.get("domain") or "?" for p in todo)
    for name, n in sorted(by_type.items()):
        print(f"  {n:5d}  {name}")
    try:
        generator = build_generator(args.generator, backbone=args.backbone, budget_usd=args.budget, **options)
    except Exception as exc:  # a missing key or extra must not hide the plan: say so and estimate without it
        print(f"note: the generator could not be built ({type(exc).__name__}: {exc}); a real run would fail here")
        generator = None
    if generator is not None:
        print(f"generator config {generator.config_hash()}: {json.dumps(generator.config(), default=str)}")
    estimate = estimate_requests(generator, todo, spec=args.generator, options=options)
    print("estimate: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in estimate.items()))
    if todo:
        shown = ", ".join(str(p["id"]) for p in todo[:10])
        print(f"first ids: {shown}{' …' if len(todo) > 10 else ''}")
    return 0


def _did_you_mean(name: str, candidates) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
