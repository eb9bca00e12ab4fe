"""`scigenbench synthesize`: a text QA dataset → verified, figure-grounded training data in SYN_DIR.

Examples::

    scigenbench synthesize --demo --out syn_demo
    scigenbench synthesize --input qa.jsonl --model openai:gpt-4.1-mini --judge openai:gpt-4.1 --out syn/
    scigenbench synthesize --input hiyouga/geometry3k --split train --question-column problem \\
        --answer-column answer --limit 500 --model openai:Qwen3-32B@http://localhost:8000/v1 \\
        --judge openai:Qwen3-VL-32B@http://localhost:8001/v1 --max-attempts 2 --budget 20 --out syn-geo/
"""

from __future__ import annotations

import argparse
import sys

from scigenbench.scripts._executor import add_executor_arguments, ray_options

HELP = "turn a text QA dataset into verified image+question training data (construct, generate, verify, export)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Re-running with the same --out resumes: every stage is recorded per item and never done twice.\n"
        "Outputs in SYN_DIR: constructed/ (problems), run/ (images), scores/, verified/ (Hub dataset: "
        "load_dataset(SYN_DIR + '/verified', split='train')), report.md.\n"
        "Exit status: 0 ok, 1 every processed item failed, 2 bad arguments, 3 stopped by --budget, 130 interrupted.")
    source = parser.add_argument_group("input")
    source.add_argument("--input", metavar="PATH_OR_HUB_ID",
                        help="JSON/JSONL/Parquet/CSV file, a dataset folder or a Hub dataset id")
    source.add_argument("--config", help="dataset config (Hub datasets)")
    source.add_argument("--split", help="dataset split (default: train, or the only split)")
    source.add_argument("--question-column", default="question", help="column with the question (default: question)")
    source.add_argument("--answer-column", default="answer", help="column with the gold answer (default: answer)")
    source.add_argument("--id-column", help="column with a unique id (default: a hash of question and answer)")
    source.add_argument("--solution-column", help="column with a worked solution, kept as `solution`")
    source.add_argument("--limit", type=int, metavar="N", help="only the first N usable rows")
    source.add_argument("--seed", type=int, help="shuffle the rows with this seed before --limit")
    models = parser.add_argument_group("models")
    models.add_argument("--model", metavar="SPEC", help="construction model (triage, elements, quizzes, rewrite)")
    models.add_argument("--generator", default="imgcoder", metavar="SPEC", help="generator spec (default: imgcoder)")
    models.add_argument("--backbone", metavar="SPEC", help="ImgCoder's chat model (default: --model)")
    models.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="generator option (repeatable), as for `scigenbench generate`")
    models.add_argument("--judge", metavar="SPEC", help="verification model (or 'ocr': the offline OCR proxy, "
                                                        "quizzes only; needs --no-require-rinv)")
    models.add_argument("--grader", metavar="SPEC", help="grader for ambiguous quiz replies and R_inv verdicts")
    policy = parser.add_argument_group("acceptance policy")
    policy.add_argument("--min-quiz-acc", type=float, default=1.0,
                        help="accuracy needed over the informative (not guessable) quizzes (default 1.0)")
    policy.add_argument("--require-rinv", action=argparse.BooleanOptionalAction, default=True,
                        help="R_inv on the rewritten question must be correct (default: on)")
    policy.add_argument("--allow-text-shortcut", action="store_true",
                        help="keep items whose rewritten question is answered right without the figure")
    policy.add_argument("--judge-min", action="append", default=[], metavar="DIMENSION=VALUE",
                        help="minimum judge score (0-2) of a dimension, e.g. Correctness_Fidelity=2 (repeatable)")
    policy.add_argument("--max-attempts", type=int, default=1,
                        help="figures tried per item; failed quizzes are fed back to ImgCoder's repair (default 1)")
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="SYN_DIR", help="output folder (created or resumed)")
    run.add_argument("--demo", action="store_true",
                     help="offline demo: the project's QA file, replayed model answers, the real pipeline, the "
                          "OCR proxy (default --out syn_demo)")
    run.add_argument("--concurrency", type=int, default=8,
                     help="model requests in flight across the run, all models together (default 8)")
    run.add_argument("--items-in-flight", type=int, metavar="N",
                     help="items processed at once (default: twice --concurrency)")
    run.add_argument("--max-reasks", type=int, default=2, help="re-asks per construction stage (default 2)")
    run.add_argument("--budget", type=float, metavar="USD", help="stop starting new items after this many dollars")
    run.add_argument("--dry-run", action="store_true", help="count the model calls it would make; call nothing")
    run.add_argument("--max-retries", type=int, help="backend retries per call")
    run.add_argument("--timeout", type=float, help="seconds per model call attempt")
    run.add_argument("--no-cache", action="store_true", help="do not use the response cache")
    run.add_argument("--push", metavar="USER/REPO", help="upload verified/ to this Hub dataset repo at the end")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_arguments(parser)


def build_config(args: argparse.Namespace):
    """The :class:`~scigenbench.training.pipeline.SynthConfig` of the parsed arguments."""
    from scigenbench.scripts.cmd_generate import parse_options
    from scigenbench.training.inputs import InputSpec
    from scigenbench.training.pipeline import SynthConfig
    from scigenbench.training.verify import AcceptancePolicy

    missing = [flag for flag, value in (("--input", args.input), ("--model", args.model), ("--judge", args.judge),
                                        ("--out", args.out)) if not value]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (or use --demo for the offline demo)")
    judge_min = {}
    for pair in args.judge_min:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--judge-min expects DIMENSION=VALUE, got {pair!r}")
        judge_min[name.strip()] = float(value)
    backend = {k: v for k, v in (("max_retries", args.max_retries), ("timeout", args.timeout)) if v is not None}
    if args.no_cache:
        backend["cache"] = False
    spec = InputSpec(args.input, config=args.config, split=args.split, question_column=args.question_column,
                     answer_column=args.answer_column, id_column=args.id_column,
                     solution_column=args.solution_column, limit=args.limit, seed=args.seed)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    policy = AcceptancePolicy(min_quiz_acc=args.min_quiz_acc, require_rinv=args.require_rinv,
                              reject_text_shortcut=not args.allow_text_shortcut, judge_min=judge_min)
    return SynthConfig(input=spec, out=args.out, model=args.model, judge=args.judge, generator=args.generator,
                       backbone=args.backbone, generator_options=parse_options(args.option), grader=args.grader,
                       policy=policy, max_attempts=args.max_attempts, max_reasks=args.max_reasks,
                       concurrency=args.concurrency, items_in_flight=args.items_in_flight, budget_usd=args.budget,
                       backend_options=backend,
                       progress=not args.no_progress, push=args.push, executor=args.executor,
                       ray_options=ray_options(args))


def run(args: argparse.Namespace) -> int:
    from scigenbench.scripts.cmd_generate import user_errors

    try:
        if args.demo:
            from scigenbench.training.demo import run_demo

            return run_demo(args.out or "syn_demo", progress=not args.no_progress, executor=args.executor,
                            ray_options=ray_options(args))
        config = build_config(args)
        if args.dry_run:
            from scigenbench.training.plan import dry_run

            print(dry_run(config))
            return 0
        from scigenbench.training.pipeline import synthesize

        summary = synthesize(config)
    except user_errors() as exc:
        print(f"scigenbench synthesize: error: {exc}", file=sys.stderr)
        return 2
    print(summary.format())
    return summary.exit_code()
