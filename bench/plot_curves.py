"""Accuracy over training steps, one line per algorithm, with the regroup steps marked.

    python bench/plot_curves.py --runs bench/results/gpu-h200/ColoredMNIST/*_test2_trial0_hp0 --test_env 2 \
        --output curves.png

Reads each run folder's ``results.jsonl`` (labelled by its algorithm and trial); draws the test
environment's in-split accuracy (solid) and the mean out-split accuracy of the training environments
(dashed), and marks every regroup step.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hf_seedcat.evaluation import read_results  # noqa: E402
from hf_seedcat.evaluation.model_selection import train_envs_of  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, help="Run folders (each with a results.jsonl).")
    parser.add_argument("--test_env", type=int, default=2)
    parser.add_argument("--regroup_steps", type=int, default=1000)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    figure, axis = plt.subplots(figsize=(8, 4.5))
    last_step = 0
    for folder in sorted(args.runs):
        records = sorted(read_results(folder), key=lambda record: record["step"])
        algorithm = f"{records[0]['args']['algorithm']} (trial {records[0]['args']['trial_seed']})"
        steps = [record["step"] for record in records]
        last_step = max(last_step, steps[-1])
        test = [record[f"env{args.test_env}_in_acc"] for record in records]
        envs = train_envs_of(records[0], [args.test_env])
        val = [sum(record[f"env{e}_out_acc"] for e in envs) / len(envs) for record in records]
        (line,) = axis.plot(steps, test, marker="o", markersize=3, label=f"{algorithm}: test env {args.test_env}")
        axis.plot(steps, val, linestyle="--", color=line.get_color(), label=f"{algorithm}: train-env validation")
    for step in range(args.regroup_steps, last_step + 1, args.regroup_steps):
        axis.axvline(step, color="grey", linewidth=0.8, linestyle=":")
    axis.set_xlabel("step (dotted lines: regroups)")
    axis.set_ylabel("accuracy")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8, loc="center right")
    figure.tight_layout()
    figure.savefig(args.output, dpi=120)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
