"""The Ray executor against the local one: an API-bound evaluation and a CPU-bound render stage.

1. **Evaluation** (API-bound): ``--calls`` judge calls (one per item of a synthetic run folder) against a loopback
   OpenAI-compatible judge that answers after ``--latency`` seconds, under a requests-per-minute limit ``--rpm``.
   The ideal is the rate limit itself: ``calls / (rpm / 60)`` seconds. We report the rate the *server* saw
   between the first and the last request (so Ray's fixed start-up is reported apart, not hidden in the rate),
   as a percentage of the limit: 100 % means the limit was used fully, and a value far above 100 % would mean the
   limit was multiplied by the number of actors. Target: Ray >= 85 %.
2. **Rendering** (CPU-bound): the mini set's matplotlib reference programs, ``--rounds`` times, in the sandbox:
   one local ``RendererPool`` of W zygotes vs W Ray render actors of one zygote each, on the same cores.
   Target: Ray >= 0.8x the local pool.

Ray is started once on 127.0.0.1 (``--num-cpus``, small object store) and shut down at the end.
Run: ``.venv/bin/python benchmarks/bench_ray.py [--calls 2000 --rpm 6000 --latency 0.5 --rounds 8]``
(about 2 minutes on 2 cores). Needs ``scigenbench[ray]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from scigenbench.generators.backends.testing import OpenAICompatServer
from scigenbench.generators.executors import RayOptions, RenderHandler, Stage, ray_session, stream
from scigenbench.metrics.evaluation import evaluate_run
from scigenbench.metrics.testing import make_run, png, scripted_judge, toy_problem

REFERENCES = Path(__file__).resolve().parents[1] / "scigenbench_dataset" / "mini" / "references"


def eval_once(label: str, problems: list[dict], run: Path, args, executor: str, ray_options: RayOptions | None
              ) -> dict:
    shutil.rmtree(run / "scores", ignore_errors=True)  # the same run folder, scored afresh by each executor
    calls = len(problems)
    in_flight = args.in_flight * args.model_workers  # the same requests in flight for both executors
    backend = {"cache": False, "rpm": args.rpm, "max_retries": 2}
    if executor == "local":
        backend["concurrency"] = in_flight  # on Ray: in_flight per actor
    with OpenAICompatServer(handler=scripted_judge(), latency=args.latency) as server:
        started = time.perf_counter()
        report = evaluate_run(run, "judge", f"openai:judge@{server.base_url}", problems=problems,
                              progress=False, n_boot=10, concurrency=in_flight, backend_options=backend,
                              executor=executor, ray_options=ray_options)
        wall = time.perf_counter() - started
        times = sorted(r.time for r in server.chat_requests())
    scored = report.summaries["judge"]["coverage"]["n_scored"]
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    limit = args.rpm / 60
    return {"label": label, "calls": len(times), "scored": scored, "wall_s": wall,
            "rate": steady, "pct_of_limit": 100 * steady / limit,
            "pct_of_ideal_wall": 100 * (calls / limit) / wall}


def render_programs(rounds: int) -> list[tuple[str, str, str]]:
    sources = sorted(REFERENCES.glob("*.py"))
    return [(f"{path.stem}#{r}", path.read_text(encoding="utf-8"), "python")
            for r in range(rounds) for path in sources]


def render_once(label: str, programs, executor: str, workers: int, ray=None, ray_options=None) -> dict:
    """Render every program; the rate counts from the first finished render to the last (pool and actor start-up
    are in ``wall_s`` only), the same way for both executors."""
    started = time.perf_counter()
    done: list[float] = []
    if executor == "local":
        handler = RenderHandler(workers, 30.0, 100)
        try:
            with ThreadPoolExecutor(max_workers=workers) as threads:
                for result in threads.map(handler.process, [(code, lang) for _, code, lang in programs]):
                    done.append((time.perf_counter(), result.status))
        finally:
            handler.pool.close()
    else:
        stage = Stage("render", functools.partial(RenderHandler, 1, 30.0, 100), name="render", in_flight=1)
        for _, result in stream(ray, stage, [(key, (code, lang)) for key, code, lang in programs], ray_options):
            done.append((time.perf_counter(), result.status))
    wall = time.perf_counter() - started
    times = [t for t, _ in done]
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {"label": label, "renders": len(done), "ok": sum(status == "ok" for _, status in done), "wall_s": wall,
            "per_s": steady}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="judge calls (items) per executor")
    parser.add_argument("--rpm", type=float, default=6000, help="requests-per-minute limit (whole run)")
    parser.add_argument("--latency", type=float, default=0.5, help="judge latency, seconds")
    parser.add_argument("--model-workers", type=int, default=2, help="Ray model actors")
    parser.add_argument("--in-flight", type=int, default=40, help="requests in flight per Ray actor")
    parser.add_argument("--rounds", type=int, default=8, help="passes over the mini references")
    parser.add_argument("--workers", type=int, default=2, help="render zygotes (local) = render actors (Ray)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="sgbbench-", dir="/tmp"))
    options = RayOptions(model_workers=args.model_workers, in_flight=args.in_flight, num_cpus=args.num_cpus,
                         render_workers=args.workers, cpus_per_render_worker=1)
    tmp = Path(tempfile.mkdtemp(prefix="sgb-bench-ray-"))
    programs = render_programs(args.rounds)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; ideal eval time "
          f"{args.calls / (args.rpm / 60):.1f} s ({args.calls} calls at {args.rpm:.0f} rpm, {args.latency} s latency)",
          flush=True)
    problems = [toy_problem(f"bench-{i:05d}", n_quizzes=0) for i in range(args.calls)]
    image = png(text="bench")
    run = make_run(tmp / "run", {p["id"]: image for p in problems})
    evals = [eval_once("local", problems, run, args, "local", None)]
    renders = [render_once("local pool", programs, "local", args.workers)]
    started = time.perf_counter()
    with ray_session(options) as ray:
        ray_start = time.perf_counter() - started
        evals.append(eval_once("ray", problems, run, args, "ray", options))
        renders.append(render_once("ray actors", programs, "ray", args.workers, ray, options))
    print(f"\nRay start (local, 127.0.0.1): {ray_start:.1f} s (not included below)\n")
    print("evaluation (API-bound)      calls  scored  wall s   rate/s  % of rpm limit  % of ideal (wall)")
    for e in evals:
        print(f"  {e['label']:<24}{e['calls']:>7}{e['scored']:>8}{e['wall_s']:>8.1f}{e['rate']:>9.1f}"
              f"{e['pct_of_limit']:>15.1f}{e['pct_of_ideal_wall']:>19.1f}")
    print("\nrendering (CPU-bound)    renders  ok   wall s  renders/s  vs local   (renders/s: first to last render)")
    base = renders[0]["per_s"]
    for r in renders:
        print(f"  {r['label']:<22}{r['renders']:>7}{r['ok']:>4}{r['wall_s']:>9.1f}{r['per_s']:>11.2f}"
              f"{r['per_s'] / base:>9.2f}x")
    targets = evals[1]["pct_of_limit"] >= 85 and renders[1]["per_s"] / base >= 0.8
    print(f"\ntargets (Ray >= 85 % of the limit, Ray render >= 0.8x local): {'met' if targets else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
