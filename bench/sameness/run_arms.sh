#!/usr/bin/env bash
# Issue 17 step 1's proof of sameness: the same three ColoredMNIST runs (CPU, fp32, one thread, same seed)
# on a given checkout, so a before/after pair can be compared file by file with compare.py.
#   bash bench/sameness/run_arms.sh CODE_DIR OUT_DIR
# Arms: seedcat (the paper's), seedcat --regroup_start 100, and seedcat killed after its step-150 checkpoint
# and resumed. Each: --max_steps 300 --regroup_steps 100 --checkpoint_freq 50 --save_steps 50, 10,000 digits.
set -euo pipefail
code=$(cd "$1" && pwd); out=$2; mkdir -p "$out"
python=${PYTHON:-$(cd "$(dirname "$0")/../.." && pwd)/.venv/bin/python}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_SEEDCAT_MNIST_DIR=${HF_SEEDCAT_MNIST_DIR:-/work/shared/data/mnist}
common=(--dataset ColoredMNIST --test_envs 2 --seed 0 --trial_seed 0 --max_steps 300 --regroup_steps 100
        --checkpoint_freq 50 --save_steps 50 --max_digits 10000 --disable_tqdm true)
run() { (cd "$code" && PYTHONPATH="$code" "$python" scripts/run_dg.py "${common[@]}" "$@"); }
arms=${ARMS:-seedcat regroup_start100 killed150}  # a subset: ARMS="seedcat" bash run_arms.sh ...
if [[ " $arms " == *" seedcat "* ]]; then run --output_dir "$out/seedcat" > "$out/seedcat.log" 2>&1; fi
if [[ " $arms " == *" regroup_start100 "* ]]; then
  run --output_dir "$out/regroup_start100" --regroup_start 100 > "$out/regroup_start100.log" 2>&1
fi
if [[ " $arms " == *" killed150 "* ]]; then
# Killed once its step-150 checkpoint is in place, then the same command again (it resumes from it).
run --output_dir "$out/killed150" > "$out/killed150.log" 2>&1 &
pid=$!
until [ -d "$out/killed150/checkpoint-150" ] || ! kill -0 $pid 2>/dev/null; do sleep 0.2; done
kill -9 $pid 2>/dev/null || true; pkill -9 -f "output_dir $out/killed150" || true; wait $pid 2>/dev/null || true
run --output_dir "$out/killed150" >> "$out/killed150.log" 2>&1
fi
echo "$(cd "$code" && git rev-parse HEAD) $(date -u +%FT%TZ)" > "$out/done"
