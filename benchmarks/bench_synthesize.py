"""Synthesis throughput: items/s through the whole pipeline vs the ideal set by its bottleneck.

Every model call goes over HTTP to a loopback OpenAI-compatible server in its own process that answers after a
fixed latency (default 0.5 s) like a model would (:class:`~scigenbench.training.testing.MiniModel`: construction
stages, ImgCoder's understand/plan/code, quizzes with and without the figure, R_inv, the blind question and the
grader), and every ImgCoder program renders in the real sandbox pool. The items are the mini set's matplotlib
problems, each repeated with a distinct suffix so that no two requests are alike (the response cache is off).

The ideal is the slower of the two resources: the model at ``concurrency`` calls in flight
(``concurrency / (latency × calls per item)`` items/s, calls per item counted on the server) and the render pool
(its workers / the mean render time, measured on the same references). The target is ≥ 80 % of the ideal at
concurrency 32: it needs model calls and rendering to overlap (an item renders while the others wait on the model).

Run: ``python benchmarks/bench_synthesize.py [--items 96] [--concurrency 32 8] [--latency 0.5]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path


def serve(latency: float, conn, stop) -> None:
    """The loopback model server (child process): answers like MiniModel after ``latency`` seconds."""
    from scigenbench.generators.backends.testing import OpenAICompatServer
    from scigenbench.training.testing import MiniModel

    model = MiniModel()
    with OpenAICompatServer(handler=model.handler, latency=latency) as server:
        conn.send(server.base_url)
        stop.wait()
        conn.send(len(server.chat_requests()))


def python_problems() -> list[dict]:
    from scigenbench.dataset import load_mini_problems
    from scigenbench.generators.imgcoder import load_reference, reference_ids

    known = set(reference_ids())
    return [p for p in load_mini_problems() if p["id"] in known and load_reference(p["id"])["language"] == "python"]


def write_items(path: Path, n: int) -> Path:
    problems = python_problems()
    rows = []
    for i in range(n):
        p = problems[i % len(problems)]
        rows.append({"id": f"bench-{i:04d}", "question": f"{p['question']} (Exercise {i + 1}.)", "answer": p["answer"]})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def render_rate(pool, repeats: int = 2) -> float:
    """Figures per second the pool renders with every worker busy (the references of the benchmark items)."""
    from concurrent.futures import ThreadPoolExecutor

    from scigenbench.generators.imgcoder import load_reference

    codes = [load_reference(p["id"])["code"] for p in python_problems()] * repeats
    started = time.perf_counter()
    with ThreadPoolExecutor(pool.workers * 2) as executor:
        list(executor.map(lambda code: pool.render(code, "python", dpi=150), codes))
    return len(codes) / (time.perf_counter() - started)


def run_once(n_items: int, concurrency: int, latency: float, pool, workdir: Path) -> dict:
    from scigenbench.training.inputs import InputSpec
    from scigenbench.training.pipeline import SynthConfig, synthesize

    parent, child = mp.Pipe()
    stop = mp.Event()
    server = mp.Process(target=serve, args=(latency, child, stop), daemon=True)
    server.start()
    try:
        base_url = parent.recv()
        spec = f"openai:bench-model@{base_url}"
        source = write_items(workdir / f"items-{concurrency}.jsonl", n_items)
        config = SynthConfig(input=InputSpec(str(source), id_column="id"), out=str(workdir / f"syn-{concurrency}"),
                             model=spec, judge=spec, concurrency=concurrency, progress=False,
                             backend_options={"cache": False, "max_retries": 0, "timeout": 60})
        started, cpu = time.perf_counter(), time.process_time()
        summary = synthesize(config)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        stop.set()
        calls = parent.recv() if parent.poll(30) else None
        server.join(10)
    return {"items": n_items, "concurrency": concurrency, "seconds": elapsed, "calls": calls, "cpu": cpu,
            "verified": summary.funnel.get("verified", 0), "generated": summary.funnel.get("generated", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=96)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 8])
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args()
    from scigenbench.generators.sandbox import get_default_pool

    pool = get_default_pool()  # the pool ImgCoder renders in
    with tempfile.TemporaryDirectory() as tmp:
        pool.start()
        rate = render_rate(pool)
        print(f"render pool: {pool.workers} workers, {rate:.1f} figures/s; model latency {args.latency} s")
        print("| concurrency | items | calls/item | achieved items/s | model ideal | render ideal | % of ideal | "
              "pipeline CPU/item |")
        print("|---|---|---|---|---|---|---|---|")
        for concurrency in args.concurrency:
            n = args.items if concurrency >= 16 else max(concurrency * 3, args.items // 3)
            result = run_once(n, concurrency, args.latency, pool, Path(tmp))
            per_item = result["calls"] / result["items"]
            achieved = result["items"] / result["seconds"]
            model_ideal = concurrency / (args.latency * per_item)
            ideal = min(model_ideal, rate)
            print(f"| {concurrency} | {n} | {per_item:.1f} | {achieved:.2f} | {model_ideal:.2f} | {rate:.1f} | "
                  f"{100 * achieved / ideal:.1f} % | {1000 * result['cpu'] / n:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
