#!/usr/bin/env bash
# GRPO with VeRL for Qwen3-VL-8B on a `scigenbench export-training --format verl` folder.
#
#   training/recipes/verl_grpo_qwen3_vl_8b.sh EXPORT_DIR [hydra overrides ...]
#
# Needs: pip install verl vllm (CUDA), and scigenbench installed in the same environment (the reward is
# loaded as pkg://scigenbench.training.rewards). Hardware: one node, 8 x 80 GB GPUs (see the YAML).
# VAL_FILES=... validates on another file in the same layout (e.g. VeRL's geo3k test.parquet); default: the
# export's test.parquet, else its train.parquet. DRY_RUN=1 prints the command instead of running it.
set -euo pipefail

EXPORT_DIR=${1:?usage: $0 EXPORT_DIR [hydra overrides ...]}
shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TRAIN="$EXPORT_DIR/train.parquet"
if [[ ! -f "$TRAIN" ]]; then
  echo "error: $TRAIN not found; run: scigenbench export-training SYN_DIR --format verl --out $EXPORT_DIR" >&2
  exit 2
fi
if [[ -z "${VAL_FILES:-}" ]]; then
  VAL_FILES="$EXPORT_DIR/test.parquet"
  [[ -f "$VAL_FILES" ]] || VAL_FILES="$TRAIN"
fi

CMD=(python3 -m verl.trainer.main_ppo --config-path="$HERE" --config-name=verl_grpo_qwen3_vl_8b
     data.train_files="$TRAIN" data.val_files="$VAL_FILES" "$@")
if [[ -n "${DRY_RUN:-}" ]]; then
  printf '%q ' "${CMD[@]}"
  echo
else
  exec "${CMD[@]}"
fi
