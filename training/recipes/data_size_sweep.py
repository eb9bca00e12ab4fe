"""The paper's data-size sweep: train on nested subsets of 1k, 2k, 4k, ... verified items, score each checkpoint.

For each size N the sweep (1) exports the first N training items of a seeded order (``export-training
--limit N``: subsets are nested, so a bigger run sees every item of a smaller one), (2) trains with the VeRL
recipe (``verl_grpo_qwen3_vl_8b.sh``, then VeRL's model merger to a Hugging Face folder) or the TRL recipe,
(3) evaluates the checkpoint on each ``--eval`` benchmark with our scorer (``eval_accuracy.py`` against a
``vllm serve`` of the checkpoint) or with lmms-eval, and (4) collects ``WORK/sweep.md`` / ``sweep.json``:
accuracy per benchmark and the average, per size, next to the untrained baseline (``--baseline``).

::

    python training/recipes/data_size_sweep.py SYN_DIR --work sweeps/qwen3vl8b --sizes 1000 2000 4000 8000 \\
        --eval geo3k=data/geo3k/test.parquet --eval mathvision=data/mathvision/test.parquet --baseline

``--dry-run`` writes the exports and ``WORK/plan.json`` and prints every command without running any;
``--collect`` only rebuilds the table from the evaluations already in ``WORK``. GEO3K in VeRL's layout comes from
VeRL's ``examples/data_preprocess/geo3k.py``; MathVision (``MathLLMs/MathVision``) is read in its own layout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SIZES = (1000, 2000, 4000, 8000)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("syn_dir", metavar="SYN_DIR", help="a synthesis folder with verified/ (or the verified folder)")
    p.add_argument("--work", required=True, help="folder for exports, checkpoints, evaluations and the table")
    p.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="training-set sizes")
    p.add_argument("--eval", action="append", default=[], metavar="NAME=FILE.parquet",
                   help="benchmark to score every checkpoint on (repeatable)")
    p.add_argument("--trainer", choices=["verl", "trl"], default="verl")
    p.add_argument("--model", default="Qwen/Qwen3-VL-8B-Instruct", help="the base model")
    p.add_argument("--evaluator", choices=["ours", "lmms-eval"], default="ours")
    p.add_argument("--lmms-tasks", default="mathvision_testmini",
                   help="lmms-eval task names (check `lmms-eval --tasks list` for your version)")
    p.add_argument("--baseline", action="store_true", help="also score the untrained base model")
    p.add_argument("--seed", type=int, default=0, help="seed of the item order (same seed: nested subsets)")
    p.add_argument("--port", type=int, default=8000, help="port of the vllm server used for scoring")
    p.add_argument("--dry-run", action="store_true", help="export and print the plan, run nothing")
    p.add_argument("--collect", action="store_true", help="only rebuild the table from finished evaluations")
    return p.parse_args(argv)


def plan_sizes(requested: list[int], available: int) -> list[int]:
    """Sorted distinct sizes, those above ``available`` replaced by ``available`` (the full set, once)."""
    return sorted({min(n, available) for n in requested if n > 0})


def build_plan(args: argparse.Namespace, sizes: list[int]) -> list[dict]:
    """One entry per run (``size`` 0 = baseline): its folders and the commands of each stage."""
    work = Path(args.work)
    runs = [{"size": 0, "label": "baseline", "hf": args.model, "train": []}] if args.baseline else []
    for n in sizes:
        folder = work / f"n{n}"
        runs.append({"size": n, "label": f"n{n}", "data": str(folder / "data"), "hf": str(folder / "hf"),
                     "train": _train_commands(args, folder)})
    for run in runs:
        run["eval_dir"] = str(work / run["label"] / "eval")
        run["eval"] = _eval_commands(args, run)
    return runs


def _train_commands(args: argparse.Namespace, folder: Path) -> list[list[str]]:
    if args.trainer == "trl":
        return [[sys.executable, str(HERE / "trl_grpo.py"), "--model", args.model, "--data", str(folder / "data"),
                 "--output-dir", str(folder / "hf"), "--bf16"]]
    ckpt = folder / "ckpt"
    return [
        ["bash", str(HERE / "verl_grpo_qwen3_vl_8b.sh"), str(folder / "data"),
         f"actor_rollout_ref.model.path={args.model}", f"trainer.default_local_dir={ckpt}",
         f"trainer.experiment_name=sweep-{folder.name}"],
        # VeRL saves FSDP shards; the merger writes a Hugging Face folder that vLLM and transformers load
        ["python3", "-m", "verl.model_merger", "merge", "--backend", "fsdp",
         "--local_dir", f"{ckpt}/global_step_{{latest}}/actor", "--target_dir", str(folder / "hf")],
    ]


def _eval_commands(args: argparse.Namespace, run: dict) -> list[list[str]]:
    if args.evaluator == "lmms-eval":
        return [["lmms-eval", "--model", "vllm", "--model_args", f"model={run['hf']}", "--tasks", args.lmms_tasks,
                 "--output_path", str(Path(run["eval_dir"]) / "lmms-eval")]]
    data = [arg for spec in args.eval for arg in ("--data", spec)]
    return [[sys.executable, str(HERE / "eval_accuracy.py"), "--model",
             f"openai:{run['label']}@http://127.0.0.1:{args.port}/v1", *data, "--out", run["eval_dir"]]]


def collect(work: Path, benchmarks: list[str]) -> str:
    """``sweep.md`` and ``sweep.json`` from ``WORK/<run>/eval/<benchmark>.json``; returns the Markdown table."""
    rows = []
    for folder in sorted(work.iterdir(), key=_run_order):
        if not (folder / "eval").is_dir():
            continue
        scores = {}
        for name in benchmarks:
            summary = folder / "eval" / f"{name}.json"
            if summary.is_file():
                scores[name] = json.loads(summary.read_text())["accuracy"]
        if scores:
            size = 0 if folder.name == "baseline" else int(folder.name[1:])
            rows.append({"size": size, "run": folder.name, **scores,
                         "average": sum(scores.values()) / len(scores) if len(scores) == len(benchmarks) else None})
    header = "| training items | " + " | ".join(benchmarks) + " | average |\n|---|" + "---|" * (len(benchmarks) + 1)
    lines = [header]
    for row in rows:
        cells = [_pct(row.get(name)) for name in benchmarks] + [_pct(row["average"])]
        label = "baseline" if row["size"] == 0 else f"{row['size']:,}"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    (work / "sweep.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    (work / "sweep.md").write_text("# Data-size sweep (accuracy, %)\n\n" + table, encoding="utf-8")
    return table


def _run_order(folder: Path) -> tuple[int, str]:
    name = folder.name
    return (0 if name == "baseline" else int(name[1:]) if name[1:].isdigit() and name[0] == "n" else 1 << 60, name)


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _run(cmd: list[str]) -> None:
    print("+ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True)


def _latest_step(ckpt: Path) -> str:
    marker = ckpt / "latest_checkpointed_iteration.txt"
    if not marker.is_file():
        raise FileNotFoundError(f"{marker} missing: did the VeRL run save a checkpoint (trainer.save_freq)?")
    return marker.read_text().strip()


@contextlib.contextmanager
def _vllm_server(model: str, name: str, port: int, timeout_s: float = 1800):
    """``vllm serve`` of a checkpoint on 127.0.0.1 for the scorer; stopped afterwards."""
    process = subprocess.Popen(["vllm", "serve", model, "--host", "127.0.0.1", "--port", str(port),
                                "--served-model-name", name])
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vllm serve {model} exited with {process.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"vllm serve {model} not ready after {timeout_s:.0f} s") from None
                time.sleep(5)
        yield
    finally:
        process.terminate()
        process.wait(timeout=120)


def execute(args: argparse.Namespace, runs: list[dict]) -> None:
    for run in runs:
        for cmd in run["train"]:
            if any("{latest}" in c for c in cmd):
                step = _latest_step(Path(args.work) / run["label"] / "ckpt")
                cmd = [c.replace("{latest}", step) for c in cmd]
            _run(cmd)
        if args.evaluator == "ours":
            with _vllm_server(run["hf"], run["label"], args.port):
                for cmd in run["eval"]:
                    _run(cmd)
        else:
            for cmd in run["eval"]:
                _run(cmd)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work)
    benchmarks = [spec.partition("=")[0] for spec in args.eval]
    if args.collect:
        print(collect(work, benchmarks))
        return 0
    if args.evaluator == "ours" and not args.eval:
        raise SystemExit("give at least one --eval NAME=FILE.parquet (or --evaluator lmms-eval)")
    from scigenbench.training.exports import export_training, load_verified

    sizes = plan_sizes(args.sizes, len(load_verified(args.syn_dir)))
    fmt = "trl" if args.trainer == "trl" else "verl"
    for n in sizes:
        result = export_training(args.syn_dir, fmt, work / f"n{n}" / "data", seed=args.seed, limit=n)
        print(f"n{n}: {result.summary()}")
    runs = build_plan(args, sizes)
    (work / "plan.json").write_text(json.dumps(runs, indent=2), encoding="utf-8")
    if args.dry_run:
        for run in runs:
            for cmd in run["train"] + run["eval"]:
                print(f"[{run['label']}] " + " ".join(shlex.quote(c) for c in cmd))
        return 0
    execute(args, runs)
    print(collect(work, benchmarks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
