"""Leave-one-domain-out table: algorithms x test domains, mean +/- standard error over trials (percent)
of the test domain's accuracy, under training-domain validation and at the last step.

    python bench/summarize_lodo.py --runs bench/results/text-dev/runs --environments airline blog imdb

Each run folder holds a ``results.jsonl`` whose ``args`` name the algorithm, test environment and trial.
"""

from __future__ import annotations

import argparse
import math
import os
from collections import defaultdict

from hf_seedcat.evaluation import last_step, read_results, training_domain_validation

SELECTIONS = {"training-domain validation": training_domain_validation, "last step": None}


def mean_se(values: list[float]) -> str:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return f"{100 * mean:.1f}"
    se = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))
    return f"{100 * mean:.1f} ± {100 * se:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", required=True, help="Folder holding one subfolder per run.")
    parser.add_argument("--environments", nargs="+", help="Domain names, if the records do not carry them.")
    args = parser.parse_args()

    accs: dict[str, dict[tuple[str, int], dict[int, float]]] = {name: defaultdict(dict) for name in SELECTIONS}
    environments: list[str] = args.environments or []
    for run in sorted(os.listdir(args.runs)):
        path = os.path.join(args.runs, run, "results.jsonl")
        if not os.path.exists(path):
            continue
        records = read_results(path)
        run_args = records[0]["args"]
        (test_env,) = run_args["test_envs"]
        environments = run_args.get("environments") or environments
        for name, select in SELECTIONS.items():
            record = select(records, [test_env]) if select else last_step(records)
            accs[name][(run_args["algorithm"], test_env)][run_args["trial_seed"]] = record[f"env{test_env}_in_acc"]
    algorithms = sorted({algorithm for algorithm, _ in accs["last step"]})
    test_envs = sorted({env for _, env in accs["last step"]})
    names = [environments[e] if e < len(environments) else f"env{e}" for e in test_envs]
    for name in SELECTIONS:
        print(f"\n{name}:\n")
        print("| algorithm | " + " | ".join(names) + " | average | trials |")
        print("|" + " --- |" * (len(test_envs) + 3))
        for algorithm in algorithms:
            cells = [accs[name][(algorithm, env)] for env in test_envs]
            trials = sorted(set.intersection(*(set(c) for c in cells)))
            averages = [sum(c[t] for c in cells) / len(cells) for t in trials]
            row = [mean_se(list(c.values())) for c in cells] + [mean_se(averages) if averages else "-"]
            print(f"| {algorithm} | " + " | ".join(row) + f" | {len(trials)} |")


if __name__ == "__main__":
    main()
