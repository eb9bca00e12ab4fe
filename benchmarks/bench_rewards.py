"""Reward latency: typical completions per second and the slowest call over adversarial inputs.

``python benchmarks/bench_rewards.py``: scores a batch of realistic completions with ``accuracy_reward`` (TRL's
signature) and times every call of an adversarial table (power towers, unclosed boxes, huge nesting, megabyte
garbage) through ``compute_score``; the issue's bound is 1 s per call on any input.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from scigenbench.training.rewards import accuracy_reward, compute_score  # noqa: E402


def typical(n: int = 2000) -> tuple[list[str], list[str]]:
    reasoning = "Let us read the figure. The block has mass 2 kg and the force is 10 N, so a = F/m. " * 8
    answers = ["5", "\\frac{1}{2}", "9.81 m/s^2", "6.67 \\times 10^{-11}", "B", "(x+1)^2", "2\\pi", "12 N"]
    completions = [f"{reasoning}\nTherefore \\boxed{{{answers[i % len(answers)]}}}." for i in range(n)]
    golds = ["5", "0.5", "9.8 m/s^2", "6.67e-11", "B", "x^2+2x+1", "2*pi", "12"]
    return completions, [golds[i % len(golds)] for i in range(n)]


def main() -> int:
    from test_training_rewards import ADVERSARIAL, CASES

    completions, golds = typical()
    start = time.perf_counter()
    scores = accuracy_reward(completions, golds)
    elapsed = time.perf_counter() - start
    print(f"typical: {len(completions)} completions in {elapsed:.2f} s = {len(completions) / elapsed:,.0f}/s, "
          f"mean reward {statistics.mean(scores):.2f}")
    timings = []
    for completion in ADVERSARIAL + [c for c, _, _ in CASES]:
        start = time.perf_counter()
        compute_score("bench", completion, "12")
        timings.append((time.perf_counter() - start, completion))
    timings.sort(reverse=True)
    worst, text = timings[0]
    print(f"adversarial + table: {len(timings)} calls, median {1e3 * statistics.median(t for t, _ in timings):.2f} ms, "
          f"slowest {1e3 * worst:.1f} ms ({text[:40]!r}...); bound 1000 ms")
    return 0 if worst < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
