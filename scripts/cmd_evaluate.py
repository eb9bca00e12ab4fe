"""`scigenbench evaluate`: score a generation run folder with the SciGenBench metrics.

Resumable (results are appended to ``RUN_DIR/scores/<metric>.jsonl`` and an item already scored under the same
judge, prompt version and image is never scored or counted twice), cached (the backend response cache: a warm
re-run makes zero model calls), concurrent, with a progress bar, call/token/cost counts and a dry run.
"""

from __future__ import annotations

import argparse
import json

from scigenbench.scripts._executor import add_executor_arguments, ray_options

HELP = "score a run folder: LMM judge, inverse quiz, R_inv, image fidelity (resumable, cached, concurrent)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="generation run folder (from `scigenbench generate`)")
    parser.add_argument("--metrics", default="judge,quiz,rinv",
                        help="comma-separated: judge, quiz, blind (quiz without image), rinv, fidelity "
                             "(default: judge,quiz,rinv)")
    parser.add_argument("--judge", action="append", default=None,
                        help="backend spec of the judge/answering model, e.g. openai:gpt-4o-mini@http://host/v1, "
                             "hf-inference:<model>, transformers:<path>, or 'ocr' (offline OCR proxy, quizzes only); "
                             "repeat it for a judge panel (per-judge results, panel result, agreement)")
    parser.add_argument("--samples", type=int, default=1,
                        help="score every item K times with each judge (per-item mean and spread; CIs include the "
                             "judge's sampling variance); use with --temperature")
    parser.add_argument("--temperature", type=float, default=None,
                        help="decoding temperature of the judge/answering model (default: each metric's, 0)")
    parser.add_argument("--grader", default=None,
                        help="backend spec of the grader (quiz letters the rule cannot read, R_inv verdicts); "
                             "default: R_inv uses the judge, and quiz replies the rule cannot read are unscored")
    parser.add_argument("--quiz-grader", default=None, metavar="SPEC",
                        help="grader for quiz replies only (overrides --grader; upstream verified quizzes with its "
                             "judge model)")
    parser.add_argument("--rinv-grader", default=None, metavar="SPEC",
                        help="grader for R_inv verdicts only (overrides --grader; upstream used gpt-4.1-nano)")
    parser.add_argument("--dataset", default=None, choices=["mini", "scigen", "seephys"],
                        help="dataset the run was generated for (default: from run.json)")
    parser.add_argument("--data-dir", default=None, help="local upstream release (default: $SCIGENBENCH_DATA_DIR)")
    parser.add_argument("--dry-run", action="store_true", help="print the number of model calls it would make")
    parser.add_argument("--over", choices=["selection", "split"], default="selection",
                        help="a run generated with --limit/--ids/--image-types is evaluated over its selection "
                             "(default; a partial run, never ranked with full ones); 'split' scores the whole split, "
                             "items not generated counting as missing")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="model requests in flight across the whole evaluation: every metric, every quiz, the "
                             "judge and the graders share this one limit (default 16)")
    parser.add_argument("--blind", action="store_true", help="also ask the quizzes without the image")
    parser.add_argument("--max-retries", type=int, default=None, help="backend retries per call")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per model call attempt")
    parser.add_argument("--rpm", type=float, default=None,
                        help="requests per minute over the whole evaluation (judge and graders together)")
    parser.add_argument("--adaptive", action="store_true",
                        help="halve the request limit on HTTP 429 and grow it back when the server copes")
    parser.add_argument("--budget-usd", type=float, default=None, help="stop cleanly before spending more")
    parser.add_argument("--no-cache", action="store_true", help="do not use the response cache")
    parser.add_argument("--clip-model", default=None, help="fidelity: also compute the CLIP score with this model")
    parser.add_argument("--fid", action="store_true", help="fidelity: also compute FID/KID (Inception-v3)")
    parser.add_argument("--compat", action="append", default=[], metavar="SWITCH",
                        help="upstream-compatibility switch, repeatable (results labelled upstream-compat and kept "
                             "apart): fidelity=upstream, judge_parse=fence_only, quiz_grader=llm, options=raw, "
                             "image_encoding=upstream, corrupted=upstream, rinv_verdict=upstream, decoding=upstream; "
                             "'upstream' turns all of them on (missing=exclude and quiz_pooling=upstream numbers are "
                             "always reported under their own names)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for CIs (default 1000)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summaries as JSON")
    add_executor_arguments(parser)


def backend_options(args: argparse.Namespace) -> dict:
    options = {}
    for name in ("max_retries", "timeout", "rpm", "budget_usd"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.no_cache:
        options["cache"] = False
    if getattr(args, "adaptive", False):
        options["adaptive"] = True
    return options


def _compat(switches: list[str]) -> dict:
    from scigenbench.metrics.evaluation import ALL_UPSTREAM, COMPAT_SWITCHES

    out = {}
    for switch in switches:
        if switch.strip() in ("upstream", "all"):
            out.update(ALL_UPSTREAM)
            continue
        key, _, value = switch.partition("=")
        if key not in COMPAT_SWITCHES or value not in COMPAT_SWITCHES[key][1]:
            available = ", ".join(f"{k}={v}" for k, (_, values) in COMPAT_SWITCHES.items() for v in values)
            raise ValueError(f"unknown --compat {switch!r}; available: {available}")
        out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    from scigenbench.metrics.evaluation import COMPAT_EXTRA, SET_METRIC_ERRORS, evaluate_run, normalise_metrics
    from scigenbench.metrics.store import RESULTS_DIR

    metrics = normalise_metrics(args.metrics, blind=args.blind)
    if args.judge is None and any(m != "fidelity" for m in metrics):
        raise ValueError("--judge SPEC is required for the judge, quiz and rinv metrics (e.g. --judge "
                         "openai:gpt-4o-mini@http://localhost:8000/v1, or --judge ocr for the offline proxy)")
    compat = _compat(args.compat)
    judge = args.judge[0] if args.judge and len(args.judge) == 1 else args.judge
    report = evaluate_run(args.run, metrics, judge, grader=args.grader, samples=args.samples,
                          temperature=args.temperature, dataset=args.dataset,
                          data_dir=args.data_dir, concurrency=args.concurrency, dry_run=args.dry_run,
                          progress=not args.no_progress, backend_options=backend_options(args),
                          fidelity_mode=compat.get("fidelity", "default"),
                          judge_parse=compat.get("judge_parse", "strict"),
                          quiz_grader=compat.get("quiz_grader", "rule"), n_boot=args.bootstrap,
                          clip_model=args.clip_model, fid=args.fid,
                          compat={k: compat[k] for k in COMPAT_EXTRA if k in compat},
                          graders={"quiz": args.quiz_grader, "rinv": args.rinv_grader}, over=args.over,
                          executor=args.executor, ray_options=ray_options(args))
    if args.json and not args.dry_run:
        print(json.dumps(report.summaries, indent=1, default=str))
    else:
        print(report.to_text())
    if not args.dry_run:
        print(f"results: {report.run_dir / RESULTS_DIR}")
        unscored = sum(s["coverage"]["n_unscored"] for k, s in report.summaries.items() if "coverage" in s)
        if unscored:
            print(f"{unscored} item(s) unscored: re-run the same command to retry them (answers already received "
                  "come from the cache; add --no-cache to ask again for replies that could not be parsed)")
    fidelity = report.summaries.get("fidelity", {})
    return 1 if any(fidelity.get(key) for key, _ in SET_METRIC_ERRORS) else 0  # a requested metric is missing


# the dispatcher accepts per-command names too
HELP_evaluate, add_arguments_evaluate, run_evaluate = HELP, add_arguments, run
