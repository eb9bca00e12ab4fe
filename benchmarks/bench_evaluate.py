"""A full SciGen evaluation (judge + quiz + R_inv) end to end through the CLI, against a loopback judge with latency.

The script builds (once, then reuses) a run folder with one distinct 1024×768 PNG per SciGen item, starts an
:class:`OpenAICompatServer` in its own process whose answers depend on the prompt (a judge verdict, a quiz
letter — ``--ambiguous`` of them ambiguous so the letter grader is called —, an R_inv final answer the
equivalence check cannot settle, a grader verdict), and runs ``scigenbench evaluate --concurrency N`` as a child
process with a fresh response cache. It prints the achieved time next to the ideal
``calls × latency / concurrency`` and the client's CPU time per call (user + system of the evaluate process,
start-up, data loading and image encoding included). Targets: ≥ 85 % of the ideal at concurrency 64 and
≤ 4 ms of client CPU per call.

    SCIGENBENCH_DATA_DIR=/path/to/upstream/data python benchmarks/bench_evaluate.py
    python benchmarks/bench_evaluate.py --concurrency 32 --latency 0.2
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import multiprocessing
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JUDGE_REPLY = ('Each dimension reviewed.\n```json\n{"Correctness_Fidelity": 2, "Layout_Precision": 1, '
               '"Readability_Occlusion": 2, "Scientific_Plausibility": 1, "Expressiveness_Richness": 1}\n```')


def answer(request_json: dict) -> str:
    """The loopback judge: a plausible reply for each of the project's prompts, deterministic per request."""
    text = "\n".join(p["text"] if isinstance(p, dict) else str(p) for m in request_json["messages"]
                     for p in (m["content"] if isinstance(m["content"], list) else [m["content"]])
                     if not isinstance(p, dict) or p.get("type") == "text")
    digest = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    if "A student answered a multiple-choice question" in text:
        return "The reply settles on one option.\nAnswer: " + re.findall(r"^([A-E]): ", text, re.M)[0]
    if "multiple-choice question" in text:
        letters = re.findall(r"^([A-E]): ", text, re.M) or ["A"]
        if digest % 100 < int(os.environ.get("BENCH_AMBIGUOUS", "5")):
            return f"Either {letters[0]} or {letters[-1]} fits what the figure shows."
        return "The figure shows the labelled value.\nAnswer: " + letters[digest % len(letters)]
    if "You grade a candidate" in text:
        return "The final answers agree.\nVerdict: " + ("CORRECT" if digest % 3 else "INCORRECT")
    if "solve the problem below" in text:
        return f"Reading the figure step by step.\nFinal answer: the quantity is {digest % 997} units of q"
    if "expert reviewer" in text:
        return JUDGE_REPLY
    return "Answer: A"


def _serve(latency: float, urls, stop, counts) -> None:
    from scigenbench.generators.backends.testing import OpenAICompatServer

    with OpenAICompatServer(handler=answer, latency=latency, record=False) as server:
        urls.put(server.base_url)
        stop.wait()
        counts.put(server.calls)


@contextlib.contextmanager
def server_process(latency: float, ambiguous: int):
    os.environ["BENCH_AMBIGUOUS"] = str(ambiguous)
    ctx = multiprocessing.get_context("fork")
    urls, counts, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(latency, urls, stop, counts), daemon=True)
    child.start()
    report = {"base_url": urls.get(timeout=60), "calls": None}
    try:
        yield report
    finally:
        stop.set()
        report["calls"] = counts.get(timeout=60)
        child.join(timeout=30)


def build_run(folder: Path, data_dir: str | None) -> int:
    """A SciGen run folder with one distinct figure-like PNG per item (reused when already complete)."""
    from PIL import Image, ImageDraw

    from scigenbench.dataset import load_scigenbench
    from scigenbench.dataset.runs import RunFolder

    ids = [str(i) for i in load_scigenbench("scigen", data_dir=data_dir)["id"]]
    run = RunFolder.create(folder, generator="bench-figures", config={"size": [1024, 768]}, dataset="scigen")
    done = run.done_ids()
    for n, item_id in enumerate(ids):
        if item_id in done:
            continue
        img = Image.new("RGB", (1024, 768), "white")
        draw = ImageDraw.Draw(img)
        for k in range(12):  # axes, a polyline and labels: a figure's worth of strokes and text
            x = 60 + (n * 37 + k * 71) % 900
            draw.line([(60, 700 - k * 50), (x, 80 + k * 40)], fill=(20 * k % 255, 40, 160), width=3)
            draw.text((x, 90 + k * 45), f"{item_id} p{k}", fill="black")
        draw.rectangle([40, 40, 984, 728], outline="black", width=2)
        import io

        buf = io.BytesIO()
        img.save(buf, format="PNG")
        run.append({"id": item_id, "status": "ok"}, buf.getvalue())
    return len(ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.5, help="server latency per request, seconds")
    parser.add_argument("--ambiguous", type=int, default=5, help="%% of quiz replies that need the letter grader")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "scigenbench-bench-evaluate"),
                        help="where the run folder is built and kept between invocations")
    parser.add_argument("--data-dir", default=os.environ.get("SCIGENBENCH_DATA_DIR"))
    parser.add_argument("--target-ratio", type=float, default=0.85)
    parser.add_argument("--target-cpu-ms", type=float, default=4.0)
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("needs the upstream release: pass --data-dir or set SCIGENBENCH_DATA_DIR")
    workdir = Path(args.workdir)
    run_dir = workdir / "run"
    began = time.perf_counter()
    n_items = build_run(run_dir, args.data_dir)
    print(f"# bench_evaluate: {n_items} SciGen items, run folder ready in {time.perf_counter() - began:.1f} s; "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as cache, server_process(args.latency, args.ambiguous) as server:
        for stale in (run_dir / "scores").glob("*"):
            stale.unlink()
        cmd = [sys.executable, "-m", "scigenbench.scripts", "evaluate", "--run", str(run_dir),
               "--metrics", "judge,quiz,rinv", "--judge", f"openai:bench-judge@{server['base_url']}",
               "--grader", f"openai:bench-grader@{server['base_url']}", "--concurrency", str(args.concurrency),
               "--no-progress", "--bootstrap", "0", "--data-dir", args.data_dir]
        env = {**os.environ, "SCIGENBENCH_CACHE_DIR": cache}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        raise SystemExit(f"evaluate exited with {done.returncode}")
    calls = server["calls"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ideal = calls * args.latency / args.concurrency
    print(done.stdout.strip())
    print()
    print("| concurrency | latency | model calls | achieved | ideal | % of ideal | client CPU | CPU per call |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.concurrency} | {args.latency * 1000:.0f} ms | {calls:,} | {elapsed:.1f} s | {ideal:.1f} s | "
          f"{100 * ideal / elapsed:.1f} % | {cpu:.1f} s | {1000 * cpu / calls:.2f} ms |")
    ok = ideal / elapsed >= args.target_ratio and 1000 * cpu / calls <= args.target_cpu_ms
    print(f"targets: >= {100 * args.target_ratio:.0f} % of ideal, <= {args.target_cpu_ms} ms CPU per call: "
          + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
