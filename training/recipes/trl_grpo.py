"""GRPO with TRL on a ``scigenbench export-training --format trl`` folder, for any vision-language model.

The reward is :func:`scigenbench.training.rewards.accuracy_reward` (last ``\\boxed{}`` against the ``solution``
column, the same equivalence checker as R_inv). Any image-text-to-text checkpoint whose processor has a chat
template works (Qwen2/2.5/3-VL, Idefics3/SmolVLM, LLaVA, Gemma 3, ...).

One GPU::

    python training/recipes/trl_grpo.py --model Qwen/Qwen2.5-VL-3B-Instruct --data exports/trl \\
        --output-dir checkpoints/grpo-qwen2.5-vl-3b --bf16

Several GPUs (data parallel; add ``--use-vllm`` for vLLM generation in colocate mode)::

    accelerate launch --num_processes 8 training/recipes/trl_grpo.py --model ... --data exports/trl --bf16

The tests run one real optimisation step of this script on CPU with a tiny random model (``--cpu``).
"""

from __future__ import annotations

import argparse
import sys
import importlib
from pathlib import Path

DEFAULT_REWARD = "scigenbench.training.rewards:accuracy_reward"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="Hub id or local folder of a vision-language model")
    p.add_argument("--data", required=True, help="folder written by `scigenbench export-training --format trl`")
    p.add_argument("--split", default="train")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--limit", type=int, help="train on the first N rows only")
    p.add_argument("--max-steps", type=int, default=-1, help="stop after N optimisation steps (-1: epochs)")
    p.add_argument("--num-train-epochs", type=float, default=1.0)
    p.add_argument("--learning-rate", type=float, default=1e-6)
    p.add_argument("--num-generations", type=int, default=8, help="completions per prompt (the GRPO group)")
    p.add_argument("--per-device-train-batch-size", type=int, default=8, help="completions per device and step")
    p.add_argument("--gradient-accumulation-steps", type=int, default=1)
    p.add_argument("--max-completion-length", type=int, default=1024)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--beta", type=float, default=0.0, help="KL coefficient (0: no reference model)")
    p.add_argument("--use-vllm", action="store_true", help="generate with vLLM (colocate mode)")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--cpu", action="store_true", help="run on CPU (tests, smoke runs)")
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                   help="default: on for GPU runs, off with --cpu")
    p.add_argument("--logging-steps", type=int, default=10)
    p.add_argument("--save-steps", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-to", default="none", help="none, wandb, tensorboard, ...")
    p.add_argument("--reward-funcs", default=DEFAULT_REWARD,
                   help="comma-separated module:function rewards with TRL's signature; rewards add up "
                        f"(default {DEFAULT_REWARD})")
    return p.parse_args(argv)


def check_export(folder: str) -> None:
    """Fail fast (before the heavy imports) when ``folder`` is not a trl export."""
    if not (Path(folder) / "data").is_dir():
        raise FileNotFoundError(f"{folder} is not a trl export: run "
                                f"`scigenbench export-training SYN_DIR --format trl --out {folder}` first")


def load_training_data(folder: str, split: str = "train", limit: int | None = None):
    """The GRPO rows of a trl export (``prompt``, ``images``, ``solution``, ...)."""
    import datasets

    check_export(folder)
    ds = datasets.load_dataset(str(folder), split=split)
    return ds.select(range(min(limit, len(ds)))) if limit else ds


def load_rewards(spec: str) -> list:
    """``"pkg.mod:fn,other:fn2"`` -> the functions."""
    rewards = []
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        module, _, name = entry.partition(":")
        if not name:
            raise ValueError(f"reward {entry!r}: write it as module:function")
        rewards.append(getattr(importlib.import_module(module), name))
    if not rewards:
        raise ValueError("--reward-funcs names no reward function")
    return rewards


def build_trainer(args: argparse.Namespace):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as exc:
        raise ImportError("the TRL recipe needs trl: pip install 'scigenbench[training]'") from exc

    dataset = load_training_data(args.data, args.split, args.limit)
    processor = AutoProcessor.from_pretrained(args.model, padding_side="left")
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=dtype)
    checkpointing = (not args.cpu) if args.gradient_checkpointing is None else args.gradient_checkpointing
    config = GRPOConfig(
        output_dir=args.output_dir, max_steps=args.max_steps, num_train_epochs=args.num_train_epochs,
        learning_rate=args.learning_rate, num_generations=args.num_generations,
        per_device_train_batch_size=args.per_device_train_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        max_completion_length=args.max_completion_length, temperature=args.temperature, beta=args.beta,
        use_vllm=args.use_vllm, bf16=args.bf16, use_cpu=args.cpu, gradient_checkpointing=checkpointing,
        logging_steps=args.logging_steps, save_steps=args.save_steps, seed=args.seed, report_to=args.report_to,
        remove_unused_columns=False)
    return GRPOTrainer(model=model, processing_class=processor, reward_funcs=load_rewards(args.reward_funcs),
                       args=config, train_dataset=dataset)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_export(args.data)
    trainer = build_trainer(args)
    trainer.train()
    trainer.save_model(args.output_dir)
    trainer.processing_class.save_pretrained(args.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
