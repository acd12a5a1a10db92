"""A Markdown table of one run per algorithm: per-environment accuracy at the last step and at the
step chosen by training-domain validation.

    python bench/summarize_runs.py --runs bench/results/ColoredMNIST_5000 --test_envs 2

With a single hyperparameter sample and trial per algorithm, DomainBed's test-domain (oracle) selection
reduces to the last step, so the "last step" row is also the oracle row.
"""

from __future__ import annotations

import argparse
import os

from hf_seedcat.evaluation import last_step, read_results, training_domain_validation
from hf_seedcat.evaluation.model_selection import environments_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", required=True, help="Folder holding one subfolder per algorithm.")
    parser.add_argument("--test_envs", type=int, nargs="+", default=[2])
    args = parser.parse_args()

    rows = []
    envs: list[int] = []
    for algorithm in sorted(os.listdir(args.runs)):
        path = os.path.join(args.runs, algorithm, "results.jsonl")
        if not os.path.exists(path):
            continue
        records = read_results(path)
        envs = environments_of(records[0])
        for label, record in (
            ("last step (oracle)", last_step(records)),
            ("training-domain validation", training_domain_validation(records, args.test_envs)),
        ):
            cells = []
            for env in envs:
                split = "in" if env in args.test_envs else "out"
                cells.append(f"{100 * record[f'env{env}_{split}_acc']:.1f}")
            rows.append(f"| {algorithm} | {label} | {record['step']} | " + " | ".join(cells) + " |")
    header = "| algorithm | selection | step | " + " | ".join(
        f"env{e} {'test (in)' if e in args.test_envs else 'val (out)'}" for e in envs
    )
    print(header + " |")
    print("|" + " --- |" * (len(envs) + 3))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
