#!/usr/bin/env bash
# Issue 18's measured comparison on a CPU, settings fixed before any run starts (reduced runs, said so in the
# tables' heading): ERM, GroupDRO on the true groups (the upper bound, it reads color_agrees), JTT, JTT + DFR
# and seedcat, 3 trials each.
#   ColoredMNIST, test environment 2 (-90%): 20,000 digits, 1000 steps, t0 = 200, an evaluation every 50 steps,
#     groups = label x color_agrees; JTT: T = 200 steps, lambda = 6; DFR on every arm (<algorithm>+dfr rows).
#   Text (bench/issue18_cpu/make_text_spurious.py: blog vs IMDb as the spurious source), MiniLM, max_length
#     64, 150 steps at lr 5e-5, t0 = 50, an evaluation of validation and test every 25 steps, the label-free
#     rule's reference at step 50, groups = label x source; JTT: T = 30, lambda = 6. (Set before any text run
#     started, down from 300 steps at max_length 128, estimated at about 2 h on two cores from 2-3 s MiniLM
#     steps: too long for one session beside the MNIST part.)
#
#   CODE=<pinned checkout> OUT=<runs folder> DATA_DIR=<MNIST idx folder> TEXT_DEV=../shared/data/text-dev \
#       bash bench/issue18_cpu/run.sh [mnist|text|all]
#
# Run it from a checkout pinned at one commit (CODE), so every run records that commit; the sweeps resume
# unfinished runs when started again. Then: seedcat-collect --input_dir OUT/<part> --window_after_step 200
# (text: --window_after_step 50).
set -euo pipefail
CODE=${CODE:-$PWD}
OUT=${OUT:-/tmp/issue18_cpu}
PYTHON=${PYTHON:-$CODE/.venv/bin/python}
PART=${1:-all}
cd "$CODE"
failed=0  # a failed run does not stop the other sweeps; the script's status says it failed
sweep() { PYTHONPATH="$CODE" "$PYTHON" -m hf_seedcat.cli.sweep "$@" || failed=1; }
common=(--n_trials 3 --launcher parallel --n_workers 2)
if [[ "$PART" == mnist || "$PART" == all ]]; then
  mnist=(--max_digits 20000 --max_steps 1000 --regroup_steps 200 --checkpoint_freq 50 --save_steps 100
         --eval_splits selection --attribute_columns color_agrees --disable_tqdm true)
  data=(--datasets ColoredMNIST --test_envs 2 ${DATA_DIR:+--data_dir "$DATA_DIR"})
  sweep --output_dir "$OUT/mnist" "${data[@]}" --algorithms erm jtt seedcat "${common[@]}" -- \
    "${mnist[@]}" --dfr --jtt_stage1_steps 200 --jtt_upweight 6
  sweep --output_dir "$OUT/mnist_true_groups" "${data[@]}" --algorithms groupdro "${common[@]}" -- \
    "${mnist[@]}" --group_column color_agrees
fi
if [[ "$PART" == text || "$PART" == all ]]; then
  "$PYTHON" bench/issue18_cpu/make_text_spurious.py "${TEXT_DEV:-../shared/data/text-dev}" "$OUT/text_data"
  text=(--max_steps 150 --regroup_steps 50 --checkpoint_freq 25 --save_steps 25 --max_length 64
        --learning_rate 5e-5 --eval_splits selection --reference_step 50 --attribute_columns source
        --disable_tqdm true)
  sweep --output_dir "$OUT/text" --datasets "hub:$OUT/text_data" --algorithms erm jtt seedcat "${common[@]}" -- \
    "${text[@]}" --dfr --jtt_stage1_steps 30 --jtt_upweight 6
  sweep --output_dir "$OUT/text_true_groups" --datasets "hub:$OUT/text_data" --algorithms groupdro \
    "${common[@]}" -- "${text[@]}" --group_column source
fi
exit $failed
