#!/usr/bin/env bash
# Issue 19's CPU-sized ColoredMNIST comparison: seedcat, GroupDRO and ERM, 3 trials, test environment 2 (-90%).
# The settings were fixed before the runs started: 20,000 digits, 1000 steps, t0 = 200 (regroups at 0, 200, ...,
# 800), an evaluation every 50 steps (the splits model selection reads), colour agreement as the attribute the
# label-free rule never reads (it is only for checking the rule), the rule's reference at step 200.
#
#   CODE=<pinned checkout> OUT=<runs folder> bash bench/issue19_cpu/run.sh
#
# Run it from a checkout pinned at one commit (CODE), so every run records that commit. The sweep resumes
# unfinished runs from their last checkpoint (every 100 steps) when started again.
set -euo pipefail
CODE=${CODE:-$PWD}
OUT=${OUT:-/tmp/issue19_cpu}
PYTHON=${PYTHON:-$CODE/.venv/bin/python}
DATA_DIR=${DATA_DIR:-}
cd "$CODE"
args=(--output_dir "$OUT" --datasets ColoredMNIST --algorithms erm groupdro seedcat --n_trials 3 --test_envs 2
      --launcher parallel --n_workers 2)
[[ -n "$DATA_DIR" ]] && args+=(--data_dir "$DATA_DIR")
PYTHONPATH="$CODE" "$PYTHON" -m hf_seedcat.cli.sweep "${args[@]}" -- \
  --max_digits 20000 --max_steps 1000 --regroup_steps 200 --checkpoint_freq 50 --save_steps 100 \
  --eval_splits selection --attribute_columns color_agrees --reference_step 200 --disable_tqdm true
