"""``--executor local|ray`` and the Ray options, shared by ``generate``, ``evaluate`` and ``synthesize``."""

from __future__ import annotations

import argparse
from typing import Any


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "executor", "where the items run: threads here (local) or a Ray cluster (ray); same outputs either way")
    group.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="local (default) or ray (Ray Data over an actor pool; needs scigenbench[ray])")
    group.add_argument("--ray-address", metavar="ADDR",
                       help="Ray cluster to use (default: $RAY_ADDRESS, else the cluster running on this machine, "
                            "else a local Ray on 127.0.0.1 for this command)")
    group.add_argument("--ray-workers", type=int, default=2, metavar="N",
                       help="actors for model/API calls (default 2)")
    group.add_argument("--ray-in-flight", type=int, default=16, metavar="N",
                       help="requests (items) in flight per model or render actor (default 16)")
    group.add_argument("--ray-render-workers", type=int, metavar="N",
                       help="ImgCoder actors (default: cluster CPUs / --ray-cpus-per-worker)")
    group.add_argument("--ray-cpus-per-worker", type=float, default=1.0, metavar="N",
                       help="CPUs (sandbox renderers) per ImgCoder actor (default 1)")
    group.add_argument("--ray-gpu-workers", type=int, metavar="N",
                       help="Diffusers actors (default: cluster GPUs / --ray-gpus-per-worker)")
    group.add_argument("--ray-gpus-per-worker", type=float, default=1.0, metavar="N",
                       help="GPUs per Diffusers actor (default 1; 0 runs the pipeline on CPU)")
    group.add_argument("--ray-cache-dir", metavar="DIR",
                       help="response cache folder as the workers see it (shared storage for one cache; "
                            "default: $SCIGENBENCH_CACHE_DIR or each node's ~/.cache/scigenbench)")
    group.add_argument("--ray-secret-env", action="append", default=[], metavar="NAME",
                       help="another environment variable to ship to the workers as a secret (repeatable; "
                            "OPENAI_API_KEY, HF_TOKEN and every api_key_env option are shipped already)")
    group.add_argument("--ray-num-cpus", type=int, metavar="N",
                       help="CPUs of a local Ray started for this command (default: all)")


def ray_options(args: argparse.Namespace) -> Any:
    """The :class:`~scigenbench.generators.executors.RayOptions` of the parsed arguments (None for local)."""
    if getattr(args, "executor", "local") != "ray":
        return None
    from scigenbench.generators.executors import RayOptions

    return RayOptions(address=args.ray_address, model_workers=args.ray_workers, in_flight=args.ray_in_flight,
                      render_workers=args.ray_render_workers, cpus_per_render_worker=args.ray_cpus_per_worker,
                      gpu_workers=args.ray_gpu_workers, gpus_per_worker=args.ray_gpus_per_worker,
                      cache_dir=args.ray_cache_dir, secret_env=tuple(args.ray_secret_env),
                      num_cpus=args.ray_num_cpus)
