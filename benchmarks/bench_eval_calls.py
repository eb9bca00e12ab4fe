"""Model calls and tokens for a full SciGen evaluation (1,057 items): our default mode vs upstream's protocol.

Counts come from the real data (``$SCIGENBENCH_DATA_DIR/scigen.json``, normalised by the data layer): quizzes per
item and which items have a ``multimodal_question``. Calls per item:

- upstream: 1 judge + 2 per quiz (answer + LLM verification) + 2 for R_inv (answer + grader);
- ours: 1 judge + 1 per scorable quiz + a letter-grader call only for ambiguous replies + 1 R_inv answer + a
  grader call unless the equivalence check settles it.

The ambiguous-reply and equivalence rates depend on the models; they are parameters (defaults: 5 % ambiguous,
0 % settled by equivalence, i.e. conservative) and the worst case (every reply ambiguous) is printed too.
Prompt tokens are estimated from the exact prompts our metrics send (4 characters per token) plus an image
estimate (OpenAI-style tiles for a 1024×1024 image); completion tokens from typical reply lengths (parameters).
Upstream prompts are estimated with the same rule on our prompts of the same role (their templates are similar in
length); the difference that matters is the number of calls.

Run: ``SCIGENBENCH_DATA_DIR=... python benchmarks/bench_eval_calls.py [--ambiguous-rate 0.05]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from scigenbench.metrics._prompts import render_prompt
from scigenbench.metrics.judge import judge_prompt
from scigenbench.metrics.quiz import _is_scorable, format_options, quiz_prompt
from scigenbench.metrics.rinv import rinv_question

CHARS_PER_TOKEN = 4


def image_tokens(width: int = 1024, height: int = 1024) -> int:
    scale = min(1.0, 768 / min(width, height))
    return 85 + 170 * math.ceil(width * scale / 512) * math.ceil(height * scale / 512)


def tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def load_rows(data_dir: Path) -> list[dict]:
    from scigenbench.dataset import normalise_rows

    rows, _ = normalise_rows(json.loads((data_dir / "scigen.json").read_text()), "scigen")
    return rows


def count(rows: list[dict], *, ambiguous_rate: float, equivalence_rate: float, completion: dict[str, int]) -> dict:
    img = image_tokens()
    ours = {"judge": [0, 0, 0], "quiz_answer": [0, 0, 0], "quiz_grader": [0, 0, 0], "rinv_answer": [0, 0, 0],
            "rinv_grader": [0, 0, 0]}  # calls, prompt tokens, completion tokens
    upstream = {"judge": [0, 0, 0], "quiz_answer": [0, 0, 0], "quiz_verify": [0, 0, 0], "rinv_answer": [0, 0, 0],
                "rinv_grader": [0, 0, 0]}

    def add(table, key, calls, prompt, done):
        table[key][0] += calls
        table[key][1] += calls * prompt
        table[key][2] += calls * done

    n_quizzes = n_scorable = n_rinv = 0
    for row in rows:
        jp = tokens(judge_prompt(row)) + img
        add(ours, "judge", 1, jp, completion["judge"])
        add(upstream, "judge", 1, jp, completion["judge"])
        for quiz in row["quizzes"]:
            n_quizzes += 1
            qp = tokens(quiz_prompt(quiz)) + img
            grader = tokens(render_prompt("letter_grader", question=quiz["question"], options=format_options(quiz),
                                          reply="x" * 4 * completion["quiz"], letters="A, B, C or D"))
            add(upstream, "quiz_answer", 1, qp, completion["quiz"])
            add(upstream, "quiz_verify", 1, grader, completion["verify"])
            if _is_scorable(quiz)[0]:
                n_scorable += 1
                add(ours, "quiz_answer", 1, qp, completion["quiz"])
                add(ours, "quiz_grader", ambiguous_rate, grader, completion["letter"])
        question = rinv_question(row)
        if question:
            n_rinv += 1
            rp = tokens(render_prompt("rinv", question=question)) + img
            gp = tokens(render_prompt("rinv_grader", question=question, answer=row["answer"],
                                      reply="x" * 4 * completion["rinv"]))
            for table in (ours, upstream):
                add(table, "rinv_answer", 1, rp, completion["rinv"])
            add(upstream, "rinv_grader", 1, gp, completion["grader"])
            add(ours, "rinv_grader", 1 - equivalence_rate, gp, completion["grader"])
    return {"n_items": len(rows), "n_quizzes": n_quizzes, "n_scorable_quizzes": n_scorable, "n_rinv": n_rinv,
            "ours": ours, "upstream": upstream}


def _total(table: dict) -> tuple[float, float, float]:
    return tuple(sum(v[i] for v in table.values()) for i in range(3))


def report(result: dict, args: argparse.Namespace) -> str:
    lines = [f"SciGen: {result['n_items']} items, {result['n_quizzes']} quizzes "
             f"({result['n_scorable_quizzes']} scorable), {result['n_rinv']} with multimodal_question",
             f"assumptions: ambiguous quiz replies {args.ambiguous_rate:.0%}, R_inv settled by equivalence "
             f"{args.equivalence_rate:.0%}, {CHARS_PER_TOKEN} chars/token, {image_tokens()} tokens per image", ""]
    for name in ("upstream", "ours"):
        lines.append(f"{name:<9} {'calls':>10} {'prompt tok':>12} {'completion tok':>15}")
        for key, (calls, prompt, done) in result[name].items():
            lines.append(f"  {key:<12} {calls:>9,.0f} {prompt:>12,.0f} {done:>15,.0f}")
        calls, prompt, done = _total(result[name])
        lines.append(f"  {'TOTAL':<12} {calls:>9,.0f} {prompt:>12,.0f} {done:>15,.0f}")
        lines.append("")
    up, ours = _total(result["upstream"]), _total(result["ours"])
    worst = ours[0] - result["ours"]["quiz_grader"][0] + result["n_scorable_quizzes"]
    lines.append(f"ours/upstream: calls {ours[0] / up[0]:.1%}, prompt tokens {ours[1] / up[1]:.1%}, completion tokens "
                 f"{ours[2] / up[2]:.1%}; worst case (every quiz reply ambiguous): {worst:,.0f} calls")
    lines.append("a warm re-run (response cache) makes 0 calls in our mode; upstream re-asks failed items only")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("SCIGENBENCH_DATA_DIR"))
    p.add_argument("--ambiguous-rate", type=float, default=0.05)
    p.add_argument("--equivalence-rate", type=float, default=0.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not args.data_dir or not (Path(args.data_dir) / "scigen.json").exists():
        print("set SCIGENBENCH_DATA_DIR (or --data-dir) to the upstream release folder", file=sys.stderr)
        return 2
    completion = {"judge": 250, "quiz": 40, "verify": 60, "letter": 10, "rinv": 400, "grader": 120}
    result = count(load_rows(Path(args.data_dir)), ambiguous_rate=args.ambiguous_rate,
                   equivalence_rate=args.equivalence_rate, completion=completion)
    print(json.dumps(result, indent=1) if args.json else report(result, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
