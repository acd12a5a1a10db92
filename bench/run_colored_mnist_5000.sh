#!/usr/bin/env bash
# The full 5000-step ColoredMNIST runs (test env 2, trial 0, seed 0, default hyperparameters) of
# erm, groupdro and seedcat, one after the other. Resumable: rerun and each run continues from its
# last checkpoint; a finished run (final model present) is skipped.
# bf16 autocast and evaluation of only the splits model selection reads, every 250 steps, to fit CPU time.
set -euo pipefail
OUT=${1:-runs/colored_mnist_5000}
for algorithm in ${ALGORITHMS:-seedcat erm groupdro}; do
  dir="$OUT/$algorithm"
  if [ -f "$dir/model.safetensors" ]; then echo "skip $dir (finished)"; continue; fi
  python scripts/run_dg.py --dataset ColoredMNIST --algorithm "$algorithm" --test_envs 2 \
    --trial_seed 0 --seed 0 --max_steps 5000 --bf16 --eval_splits selection --checkpoint_freq 250 \
    --disable_tqdm true --output_dir "$dir" 2>&1 | tee -a "$OUT/$algorithm.log"
done
