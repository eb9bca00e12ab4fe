"""Throughput and peak memory of the Diffusers generator on the tiny Qwen-Image and HunyuanImage pipelines.

Meant for a GPU machine (CUDA, bf16); runs on CPU too (float32) for a smoke check:

    python benchmarks/bench_diffusers_gpu.py                 # cuda + bf16 when available
    python benchmarks/bench_diffusers_gpu.py --device cpu --n 4

Prints images/s and peak accelerator memory for batch 1 and 4. The pipelines are tiny and random, so the
figures measure the generator's own overhead and the pipelines' control flow, not real model speed.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from scigenbench.generators import get_generator
from scigenbench.generators.diffusers_tiny import TINY_PIPELINES, save_tiny_pipeline


def measure(folder: str, *, device: str, dtype: str, batch: int, n: int, size: int, steps: int) -> tuple[float, float]:
    gen = get_generator(f"diffusers:{folder}", device=device, dtype=dtype, batch_size=batch, steps=steps,
                        width=size, height=size, local_files_only=True)
    problems = [{"id": f"bench-{i}", "question": f"A block on an incline, case {i}."} for i in range(n)]
    gen.generate_batch(problems[:batch])  # warm-up: loading, kernels, allocator
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    outputs = gen.generate_batch(problems)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    failed = [o.error for o in outputs if not o.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} images failed: {failed[0]}")
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan")
    return n / seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--n", type=int, default=16, help="images per measurement")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"device: {name}  dtype: {dtype}  size: {args.size}px  steps: {args.steps}  images: {args.n}")
    print(f"| pipeline | batch | images/s | peak memory (MiB) |\n|---|---|---|---|")
    for kind in TINY_PIPELINES:
        with tempfile.TemporaryDirectory() as folder:
            save_tiny_pipeline(kind, folder)
            for batch in (1, 4):
                ips, peak = measure(folder, device=args.device, dtype=dtype, batch=batch, n=args.n,
                                    size=args.size, steps=args.steps)
                print(f"| {kind} | {batch} | {ips:.2f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
