"""Throughput of the openai: backend against the loopback server: achieved requests/s vs the ideal.

Each scenario starts an :class:`OpenAICompatServer` (in its own process by default, as a real server would be;
``--in-process`` runs it as a thread sharing our GIL) with a fixed per-request ``latency`` and an optional
server-side rate limit (requests/s; the client is given the same limit as ``rpm`` so it paces itself instead of
collecting 429s), then drives ``--requests`` distinct chat requests through ``get_backend("openai:...")`` with
the cache off, from a thread pool (``chat``) or from asyncio tasks (``achat``). The ideal rate is
``min(concurrency / latency, rate_limit)``.

    python benchmarks/bench_backends.py                      # default scenarios
    python benchmarks/bench_backends.py --concurrency 32 --latency 0.2 --rate-limit 50 --mode async
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from scigenbench.generators.backends import get_backend
from scigenbench.generators.backends.testing import OpenAICompatServer

DEFAULT_SCENARIOS = [  # (mode, concurrency, latency s, server rate limit req/s or None)
    ("threads", 32, 0.2, None),
    ("async", 32, 0.2, None),
    ("threads", 8, 0.2, None),
    ("threads", 32, 0.2, 50.0),
    ("async", 32, 0.2, 50.0),
]


def _serve(latency: float, rate_limit: float | None, urls, stop, counts) -> None:
    """Child process: run the server until ``stop`` is set, then report how many 429s it answered."""
    with OpenAICompatServer(latency=latency, rate_limit=rate_limit) as server:
        urls.put(server.base_url)
        stop.wait()
        counts.put(sum(1 for r in server.chat_requests() if r.status == 429))


@contextlib.contextmanager
def server_process(latency: float, rate_limit: float | None):
    """The loopback server in its own process (like a real server, it does not share our GIL)."""
    ctx = multiprocessing.get_context("fork")
    urls, counts, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(latency, rate_limit, urls, stop, counts), daemon=True)
    child.start()
    report = {"base_url": urls.get(timeout=30), "429s": None}
    try:
        yield report
    finally:
        stop.set()
        report["429s"] = counts.get(timeout=30)
        child.join(timeout=30)


@contextlib.contextmanager
def server_thread(latency: float, rate_limit: float | None):
    """The loopback server in this process (shares the GIL with the client: a harsher setting)."""
    with OpenAICompatServer(latency=latency, rate_limit=rate_limit) as server:
        report = {"base_url": server.base_url, "429s": None}
        yield report
        report["429s"] = sum(1 for r in server.chat_requests() if r.status == 429)


def run_scenario(mode: str, concurrency: int, latency: float, rate_limit: float | None, n: int,
                 in_process: bool = False) -> dict:
    serve = server_thread if in_process else server_process
    with serve(latency, rate_limit) as server:
        backend = get_backend(f"openai:bench-model@{server['base_url']}", cache=False, concurrency=concurrency,
                              rpm=rate_limit * 60 if rate_limit else None, max_retries=5, backoff_base=0.05)
        asks = [[{"role": "user", "content": f"request {i}"}] for i in range(n)]
        # warm-up: one full wave opens the connection pool and imports everything outside the timing
        warm = [[{"role": "user", "content": f"warm-up {i}"}] for i in range(concurrency)]
        if mode == "threads":
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                list(pool.map(backend.chat, warm))
                start = time.perf_counter()
                results = list(pool.map(backend.chat, asks))
                elapsed = time.perf_counter() - start
        else:
            async def drive():
                await asyncio.gather(*[backend.achat(a) for a in warm])
                began = time.perf_counter()
                done = await asyncio.gather(*[backend.achat(a) for a in asks])
                return done, time.perf_counter() - began

            results, elapsed = asyncio.run(drive())
    assert [r.text for r in results] == [f"echo: request {i}" for i in range(n)], "wrong answers"
    ideal = min(concurrency / latency, rate_limit or float("inf"))
    achieved = n / elapsed
    return {"mode": mode, "concurrency": concurrency, "latency": latency, "rate_limit": rate_limit, "n": n,
            "elapsed": elapsed, "achieved": achieved, "ideal": ideal, "ratio": achieved / ideal, "429s": server["429s"],
            "server": "thread" if in_process else "process"}


def print_table(rows: list[dict]) -> None:
    print(f"| mode | server | concurrency | latency | server limit | N | time (s) | achieved req/s | ideal req/s | "
          f"% of ideal | 429s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        limit = f"{r['rate_limit']:.0f}/s" if r["rate_limit"] else "none"
        print(f"| {r['mode']} | {r['server']} | {r['concurrency']} | {r['latency'] * 1000:.0f} ms | {limit} | {r['n']} | "
              f"{r['elapsed']:.2f} | {r['achieved']:.1f} | {r['ideal']:.1f} | {100 * r['ratio']:.1f} % | "
              f"{r['429s']} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=640, help="requests per scenario (default 640)")
    parser.add_argument("--mode", choices=["threads", "async"], help="run one scenario in this mode")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2, help="server latency per request, seconds")
    parser.add_argument("--rate-limit", type=float, default=None, help="server limit, requests/second")
    parser.add_argument("--target", type=float, default=0.9, help="exit 1 if a scenario is below this ratio")
    parser.add_argument("--in-process", action="store_true",
                        help="run the server as a thread of this process (default: its own process)")
    args = parser.parse_args(argv)
    scenarios = [(args.mode, args.concurrency, args.latency, args.rate_limit)] if args.mode else DEFAULT_SCENARIOS
    print(f"# bench_backends: {len(scenarios)} scenario(s), {args.requests} requests each, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    rows = [run_scenario(*s, args.requests, in_process=args.in_process) for s in scenarios]
    print_table(rows)
    return 0 if all(r["ratio"] >= args.target for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
