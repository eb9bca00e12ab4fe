"""Render throughput: upstream's in-process exec vs fresh interpreters vs our confined pool vs the ceiling.

Workload: the mini set's matplotlib reference programs (``scigenbench_dataset/mini/references/*.py``); when
fewer than 5 exist, three realistic diagram programs defined below. Every method renders the same programs
with the same capture code (``_capture.run_program``: same savefig/show rules, PNG at ``--dpi``), so the table
compares execution models, not drawing code:

* ``upstream``: in-process ``exec`` under a ``threading.Lock`` (what upstream ImgCoder does), W threads.
* ``fresh``: a fresh ``python`` process per figure (import matplotlib every time), W in parallel.
* ``pool``: our :class:`RendererPool` (bwrap + cgroup where allowed + fork-per-job + own IPC namespace + rlimits
  + Landlock + seccomp), W workers.
* ``ceiling``: W persistent plain worker processes reused for every figure (no isolation, no fork): the
  unconfined upper bound.

Run: ``.venv/bin/python benchmarks/bench_render.py [--rounds 2] [--dpi 100]``. Targets on 2 cores:
pool(W=2) >= 1.4x upstream and >= 0.7x ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SANDBOX_DIR = REPO / "generators" / "sandbox"
REFERENCES = REPO / "scigenbench_dataset" / "mini" / "references"

FALLBACK_PROGRAMS = [
    """import matplotlib.pyplot as plt
from matplotlib.patches import Polygon, FancyArrowPatch, Arc
fig, ax = plt.subplots(figsize=(6, 4))
ax.add_patch(Polygon([[0, 0], [5, 0], [5, 2.9]], closed=True, fill=False, lw=2))
ax.add_patch(Polygon([[2.6, 1.5], [3.6, 2.08], [3.1, 2.95], [2.1, 2.37]], closed=True, color="tab:blue"))
for dx, dy, label in ((0, -1.2, "mg"), (-0.5, 0.87, "N"), (-0.87, -0.5, "f")):
    ax.add_patch(FancyArrowPatch((2.85, 2.2), (2.85 + dx, 2.2 + dy), arrowstyle="-|>", mutation_scale=15))
    ax.text(2.85 + dx * 1.15, 2.2 + dy * 1.15, label, fontsize=12)
ax.add_patch(Arc((0, 0), 1.5, 1.5, theta1=0, theta2=30))
ax.text(0.85, 0.2, "30°", fontsize=12)
ax.set_xlim(-0.5, 5.5); ax.set_ylim(-0.5, 3.5); ax.set_aspect("equal"); ax.axis("off")
plt.savefig("figure.png")
""",
    """import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(-3, 3, 400)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(x, x**2 - 1, label="f(x) = x² − 1")
ax.plot(x, np.sin(2 * x), "--", label="g(x) = sin 2x")
ax.fill_between(x, x**2 - 1, np.sin(2 * x), where=(x**2 - 1 < np.sin(2 * x)), alpha=0.3)
for s in ("left", "bottom"):
    ax.spines[s].set_position("zero")
for s in ("right", "top"):
    ax.spines[s].set_visible(False)
ax.legend(); ax.set_ylim(-2, 4)
""",
    """import matplotlib.pyplot as plt
from matplotlib.patches import Circle
fig, ax = plt.subplots(figsize=(5, 5))
ax.add_patch(Circle((0, 0), 2, fill=False, lw=2))
pts = {"A": (-2, 0), "B": (2, 0), "C": (1.2, 1.6), "O": (0, 0)}
for (a, b) in (("A", "B"), ("B", "C"), ("C", "A"), ("O", "C")):
    ax.plot(*zip(pts[a], pts[b]), color="k")
for name, (x, y) in pts.items():
    ax.plot(x, y, "ko", ms=4); ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5))
ax.text(0.4, 1.0, "r = 2", fontsize=11)
ax.set_aspect("equal"); ax.axis("off")
""",
]

_RUNNER = r"""
import sys, json, struct
sys.path.insert(0, {sandbox!r})
import _capture
_capture.install_patches()
{body}
"""
_FRESH_BODY = r"""
code = sys.stdin.read()
header, png = _capture.run_program(code, dpi={dpi}, job_dir=".")
sys.stdout.buffer.write(struct.pack(">I", len(png)) + json.dumps(header["status"]).encode().ljust(32) + png)
"""
_CEILING_BODY = r"""
_capture.warm_up()
out = sys.stdout.buffer
while True:
    line = sys.stdin.buffer.readline()
    if not line:
        break
    code = json.loads(line)
    header, png = _capture.run_program(code, dpi={dpi}, job_dir=".")
    _capture.cleanup()
    out.write(struct.pack(">I", len(png)) + json.dumps(header["status"]).encode().ljust(32) + png)
    out.flush()
"""


def load_programs() -> tuple[list[str], str]:
    refs = sorted(REFERENCES.glob("*.py")) if REFERENCES.is_dir() else []
    if len(refs) >= 5:
        return [p.read_text() for p in refs], f"{len(refs)} mini-set references"
    return list(FALLBACK_PROGRAMS), f"{len(FALLBACK_PROGRAMS)} built-in diagram programs"


def _timed_map(fn, items, workers: int) -> tuple[float, list[float], list[str]]:
    latencies, statuses = [], []

    def one(code):
        t = time.perf_counter()
        status = fn(code)
        latencies.append(time.perf_counter() - t)
        statuses.append(status)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(one, items))
    return time.perf_counter() - start, latencies, statuses


class Upstream:
    """In-process exec under a lock (W threads share it), as upstream ImgCoder does."""

    def __init__(self, workers, dpi, tmp):
        sys.path.insert(0, str(SANDBOX_DIR))
        import _capture

        self.capture, self.workers, self.dpi, self.tmp = _capture, workers, dpi, tmp
        _capture.install_patches()
        self.lock = threading.Lock()
        self.cwd = os.getcwd()
        os.chdir(tmp)  # the programs' own savefig("figure.png") must not land in the repo
        _capture.warm_up()

    def run(self, programs):
        def one(code):
            with self.lock:
                header, _png = self.capture.run_program(code, dpi=self.dpi, job_dir=self.tmp)
                self.capture.cleanup()
                return header["status"]

        return _timed_map(one, programs, self.workers)

    def close(self):
        os.chdir(self.cwd)


class Fresh:
    """A fresh interpreter per figure (imports matplotlib every time), W in parallel."""

    def __init__(self, workers, dpi, tmp):
        self.workers, self.tmp = workers, tmp
        self.script = _RUNNER.format(sandbox=str(SANDBOX_DIR), body=_FRESH_BODY.format(dpi=dpi))
        self.env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}

    def run(self, programs):
        def one(code):
            r = subprocess.run([sys.executable, "-c", self.script], input=code.encode(), capture_output=True,
                               cwd=self.tmp, env=self.env)
            ok = r.returncode == 0 and len(r.stdout) >= 36
            return json.loads(r.stdout[4:36].decode().strip()) if ok else "crash"

        return _timed_map(one, programs, self.workers)

    def close(self):
        pass


class Ceiling:
    """W persistent plain worker processes reused for every figure: no isolation, no fork."""

    def __init__(self, workers, dpi, tmp):
        import queue

        self.workers = workers
        script = _RUNNER.format(sandbox=str(SANDBOX_DIR), body=_CEILING_BODY.format(dpi=dpi))
        env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
        self.procs = [subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       cwd=tmp, env=env) for _ in range(workers)]
        self.idle: queue.Queue = queue.Queue()
        for p in self.procs:
            self.idle.put(p)
        for _ in range(workers):  # wait until every worker is warm
            self._one("x = 1\n")

    def _one(self, code):
        p = self.idle.get()
        try:
            p.stdin.write(json.dumps(code).encode() + b"\n")
            p.stdin.flush()
            (n,) = struct.unpack(">I", p.stdout.read(4))
            status = json.loads(p.stdout.read(32).decode().strip())
            p.stdout.read(n)
            return status
        finally:
            self.idle.put(p)

    def run(self, programs):
        return _timed_map(self._one, programs, self.workers)

    def close(self):
        for p in self.procs:
            p.stdin.close()
            p.wait(timeout=30)


class Pool:
    """Our confined RendererPool (started before timing)."""

    def __init__(self, workers, dpi, tmp):
        from scigenbench.generators.sandbox import RendererPool

        self.workers, self.dpi = workers, dpi
        self.pool = RendererPool(workers=workers).start()

    def run(self, programs):
        return _timed_map(lambda code: self.pool.render_python(code, timeout=60, dpi=self.dpi).status, programs,
                          self.workers)

    def close(self):
        self.pool.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the workload per repetition (default 2)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repetitions, interleaved across methods; the median is reported (default 3)")
    parser.add_argument("--fresh-figures", type=int, default=10, help="figures per repetition for 'fresh' (slow)")
    parser.add_argument("--dpi", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args(argv)
    import tempfile

    base, what = load_programs()
    programs = base * args.rounds
    w = args.workers
    methods = [("upstream: in-process exec under a lock", Upstream, w, programs),
               ("fresh interpreter per figure", Fresh, w, base[: args.fresh_figures]),
               ("confined pool", Pool, 1, programs),
               ("confined pool", Pool, w, programs),
               ("unconfined reused workers (ceiling)", Ceiling, w, programs)]
    samples: dict[int, list] = {i: [] for i in range(len(methods))}
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        runners = [cls(workers, args.dpi, tmp) for _name, cls, workers, _items in methods]
        try:
            for rep in range(args.repeats):
                for i, (name, _cls, workers, items) in enumerate(methods):
                    load = os.getloadavg()[0]
                    seconds, latencies, statuses = runners[i].run(items)
                    samples[i].append((len(items) / seconds, latencies, statuses, load))
                print(f"  repetition {rep + 1}/{args.repeats} done", file=sys.stderr)
        finally:
            for r in runners:
                r.close()
    rows = []
    for i, (name, _cls, workers, items) in enumerate(methods):
        rates = sorted(s[0] for s in samples[i])
        latencies = [x for s in samples[i] for x in s[1]]
        rows.append({"method": name, "workers": workers, "figures": len(items) * args.repeats,
                     "ok": sum(st == "ok" for s in samples[i] for st in s[2]),
                     "figs_per_s": round(statistics.median(rates), 2), "min": round(rates[0], 2),
                     "max": round(rates[-1], 2), "median_ms": round(1000 * statistics.median(latencies)),
                     "load": round(statistics.mean(s[3] for s in samples[i]), 2)})
    print(f"\nworkload: {what} x{args.rounds} per repetition, {args.repeats} interleaved repetitions, "
          f"dpi {args.dpi}, {os.cpu_count()} CPUs\n")
    print("| method | W | figures | ok | figs/s (median) | min–max | median latency ms | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['workers']} | {r['figures']} | {r['ok']} | {r['figs_per_s']} | "
              f"{r['min']}–{r['max']} | {r['median_ms']} | {r['load']} |")
    up = rows[0]["figs_per_s"]
    pool_w = rows[3]["figs_per_s"]
    ceiling = rows[4]["figs_per_s"]
    print(f"\nconfined pool (W={w}) / upstream = {pool_w / up:.2f}x (target >= 1.4)")
    print(f"confined pool (W={w}) / ceiling  = {pool_w / ceiling:.2f}x (target >= 0.7)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
