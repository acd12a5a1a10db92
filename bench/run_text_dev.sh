#!/usr/bin/env bash
# Leave-one-domain-out on the text-dev sentiment folder (airline, blog, imdb) with the MiniLM model:
# erm, groupdro and seedcat, 3 trials each, one output folder per run. A short CPU protocol (see
# bench/results/text-dev/README.md); each run resumes from its checkpoint if interrupted.
# Usage: bash bench/run_text_dev.sh [DATA_DIR] [OUT_DIR] [ORDER]   (run from the repository root)
# Several copies may run at once (e.g. one with ORDER=reverse): each run is claimed with mkdir first.
set -euo pipefail
data=${1:-../shared/data/text-dev}
out=${2:-runs/text-dev}
python=${PYTHON:-.venv/bin/python}
trials="0 1 2"
if [ "${3:-}" = reverse ]; then trials="2 1 0"; fi
mkdir -p "$out"
for trial in $trials; do
  for test_env in 0 1 2; do
    for algorithm in erm groupdro seedcat; do
      dir="$out/${algorithm}_test${test_env}_trial${trial}"
      if [ -f "$dir/model.safetensors" ] || ! mkdir "$dir.claim" 2>/dev/null; then continue; fi
      "$python" scripts/run_dg.py --dataset TextFolder --data_dir "$data" --text_column reviews --label_column labels \
        --max_per_domain 300 --max_length 64 --algorithm "$algorithm" --test_envs "$test_env" \
        --trial_seed "$trial" --seed "$trial" --max_steps 30 --checkpoint_freq 15 --regroup_steps 15 \
        --per_device_train_batch_size 16 --learning_rate 1e-4 --eval_splits selection --save_steps 15 \
        --bf16 --disable_tqdm true --output_dir "$dir"
      rmdir "$dir.claim"
    done
  done
done
