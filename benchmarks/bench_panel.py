"""Judge panels and K samples cost calls, not scheduling: one judge vs a 2-judge panel × 2 samples on the mini set.

Every (judge, sample) is an answerer of the same run, so all tasks share one request limit; the achieved time
should stay close to ``calls × latency / concurrency`` whatever the number of answerers. The loopback judge
(``bench_evaluate.answer``, in its own process, fixed latency) answers every prompt; each configuration starts
from an empty response cache and an empty ``scores/`` folder.

    python benchmarks/bench_panel.py --concurrency 16 --latency 0.5
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluate import server_process  # noqa: E402  (benchmarks/ is a folder of scripts)

CONFIGS = [("1 judge", ["bench-a"], 1), ("2 judges", ["bench-a", "bench-b"], 1),
           ("1 judge × 3 samples", ["bench-a"], 3), ("2 judges × 2 samples", ["bench-a", "bench-b"], 2)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.5, help="server latency per request, seconds")
    parser.add_argument("--target-ratio", type=float, default=0.8)
    args = parser.parse_args(argv)
    from scigenbench.dataset import load_mini_problems
    from scigenbench.metrics.evaluation import evaluate_run
    from scigenbench.metrics.testing import make_run, png

    problems = load_mini_problems()
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as work, server_process(args.latency, 0) as server:
        run_dir = make_run(Path(work) / "run", {p["id"]: png("white", text=p["id"]) for p in problems})
        for label, judges, samples in [("warm-up", ["bench-w"], 1), *CONFIGS]:  # the first run pays imports
            shutil.rmtree(run_dir / "scores", ignore_errors=True)
            specs = [f"openai:{j}@{server['base_url']}" for j in judges]
            options = {"cache_dir": str(Path(work) / f"cache-{len(rows)}")}
            start = time.perf_counter()
            report = evaluate_run(run_dir, ["judge", "quiz"], specs if len(specs) > 1 else specs[0],
                                  problems=problems, samples=samples, temperature=0.7 if samples > 1 else None,
                                  concurrency=args.concurrency, backend_options=options, progress=False, n_boot=0)
            elapsed = time.perf_counter() - start
            calls = sum(report.calls.values())
            ideal = calls * args.latency / args.concurrency
            if label == "warm-up":
                continue
            if len(judges) * samples > 1:  # the target is for panels and samples (one judge is bench_evaluate's)
                ok &= ideal / elapsed >= args.target_ratio
            rows.append(f"| {label} | {calls} | {elapsed:.1f} s | {ideal:.1f} s | {100 * ideal / elapsed:.0f} % |")
    print(f"# bench_panel: {len(problems)} mini items, judge + quiz, concurrency {args.concurrency}, "
          f"latency {args.latency * 1000:.0f} ms")
    print("| answerers | model calls | achieved | ideal | % of ideal |\n|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"target: >= {100 * args.target_ratio:.0f} % of ideal with several answerers: "
          + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
