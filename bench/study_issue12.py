"""Issue 12's study: every arm on ColoredMNIST (test environment 2 by default), paired seeds, one table.

    python bench/study_issue12.py --output_root study12 [--max_steps 5000] [--seeds 0 1 2 3 4] \
        [--max_digits N] [--arms erm seedcat ...] [--n_workers 4] [--leave_one_out] [--dry_run] [-- RUN_DG FLAGS]

Each arm is one line of ``scripts/run_dg.py`` flags (``ARMS``); every run gets the same common flags
(dataset, test environments, ``--seed s --trial_seed s`` so arm A and arm B start from the same data,
split and weights for seed s, evaluation every 100 steps with ``--attribute_columns color_agrees``), and
the flags after ``--``. Runs go to ``ROOT/<arm>/test<envs>_seed<s>``; a run with a ``done`` file is
skipped, an unfinished one resumes. ``--dry_run`` prints the commands only. At the end (or with
``--summarize_only``) it prints and writes ``ROOT/study.md`` and ``ROOT/study.csv``: DomainBed's three
selection methods, the last-step mean +/- SE, how many seeds end above 50% on the test environment,
the fraction of evaluations after step 2000 above 50%, the training environments' accuracy and the
test environment's worst-group accuracy.

``groupdro_true_groups`` reads the attribute ``color_agrees`` to form its groups: an UPPER BOUND, not a
method; no other arm reads an attribute or the test environment.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hf_seedcat.evaluation import DONE_FILE, group_runs, read_results, select_trial, standard_error  # noqa: E402

# arm -> run_dg.py flags. The paper's seedcat is K = 4, t0 = 1000 (the defaults).
ARMS: dict[str, list[str]] = {
    "erm": ["--algorithm", "erm"],
    "groupdro": ["--algorithm", "groupdro"],
    "seedcat": ["--algorithm", "seedcat"],
    "seedcat_keep_q": ["--algorithm", "seedcat", "--keep_q_on_regroup"],
    "seedcat_loss_average3": ["--algorithm", "seedcat", "--regroup_loss_average", "3"],
    "seedcat_once500": ["--algorithm", "seedcat", "--regroup_once_at", "500"],
    "seedcat_start500": ["--algorithm", "seedcat", "--regroup_start", "500"],  # suggested by the composition
    "groupdro_true_groups": ["--algorithm", "groupdro", "--group_column", "color_agrees"],  # UPPER BOUND
}
UPPER_BOUNDS = {"groupdro_true_groups"}
LATE_STEP = 2000  # "the fraction of evaluations after step 2000 above 50%"


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_root", required=True)
    parser.add_argument("--max_steps", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max_digits", type=int, default=None, help="Smoke runs: only the first N digits.")
    parser.add_argument("--test_envs", type=int, nargs="+", default=[2])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--checkpoint_freq", type=int, default=100)
    parser.add_argument("--n_workers", type=int, default=1, help="Runs at a time (several fit on one GPU).")
    parser.add_argument(
        "--leave_one_out",
        action="store_true",
        help="Also run each training environment held out beside the test one (leave-one-domain-out selection).",
    )
    parser.add_argument("--dry_run", action="store_true", help="Print the commands, run nothing.")
    parser.add_argument("--summarize_only", action="store_true", help="Only read the runs and write the table.")
    return parser.parse_args(argv), extra


def run_folder(root: str, arm: str, test_envs: list[int], seed: int) -> str:
    return os.path.join(root, arm, f"test{''.join(map(str, test_envs))}_seed{seed}")


def commands(args: argparse.Namespace, extra: list[str]) -> list[tuple[str, list[str]]]:
    """``(folder, command)`` of every run: arms x seeds x test-environment sets."""
    env_sets = [list(args.test_envs)]
    if args.leave_one_out:
        (test_env,) = args.test_envs
        env_sets += [sorted((test_env, e)) for e in range(3) if e != test_env]  # ColoredMNIST: 3 environments
    jobs = []
    for arm in args.arms:
        for seed in args.seeds:
            for test_envs in env_sets:
                folder = run_folder(args.output_root, arm, test_envs, seed)
                command = [sys.executable, str(ROOT / "scripts" / "run_dg.py"), "--dataset", "ColoredMNIST"]
                command += ["--test_envs", *map(str, test_envs), "--seed", str(seed), "--trial_seed", str(seed)]
                freq = min(args.checkpoint_freq, args.max_steps)  # a smoke run still writes results.jsonl
                command += ["--max_steps", str(args.max_steps), "--checkpoint_freq", str(freq)]
                command += ["--attribute_columns", "color_agrees", "--output_dir", folder, "--disable_tqdm", "true"]
                if args.max_digits:
                    command += ["--max_digits", str(args.max_digits)]
                jobs.append((folder, command + ARMS[arm] + extra))
    return jobs


def run(folder: str, command: list[str], threads: int | None) -> tuple[str, int, float]:
    os.makedirs(folder, exist_ok=True)
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.time()
    with open(os.path.join(folder, "log.txt"), "a", encoding="utf-8") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False).returncode
    return folder, code, time.time() - start


def _fmt(values: list[float]) -> str:
    if not values:
        return "—"
    se = standard_error(values)
    mean = 100 * sum(values) / len(values)
    return f"{mean:.1f}" + (f" ± {100 * se:.1f}" if se is not None else "")


def summarize(args: argparse.Namespace) -> list[dict[str, object]]:
    (test_env,) = args.test_envs
    rows = []
    for arm in args.arms:
        records = []
        for seed in args.seeds:
            for folder in Path(args.output_root, arm).glob(f"test*_seed{seed}"):
                if (folder / "results.jsonl").exists():
                    for record in read_results(str(folder)):
                        record["args"] = {**record["args"], "algorithm": arm}  # arms share algorithm names
                        records.append(record)
        runs = group_runs(records)
        main = {key.trial_seed: run for key, run in runs.items() if key.test_envs == (test_env,)}
        folders = {s: run_folder(args.output_root, arm, [test_env], s) for s in main}
        finished = sorted(s for s in main if os.path.exists(os.path.join(folders[s], DONE_FILE)))
        selected = {}
        for method in ("training_domain", "leave_one_out", "oracle"):
            picks = [select_trial(runs, method, "ColoredMNIST", arm, test_env, s) for s in finished]
            selected[method] = [p.test_acc for p in picks if p is not None]
        last = [main[s][-1] for s in finished]
        last_test = [r[f"env{test_env}_in_acc"] for r in last]
        late = [r[f"env{test_env}_in_acc"] for s in finished for r in main[s] if r["step"] > LATE_STEP]
        late_share = f"{sum(a > 0.5 for a in late) / len(late):.2f}" if late else "—"
        train_envs = [e for e in range(3) if e != test_env]
        train_acc = [sum(r[f"env{e}_out_acc"] for e in train_envs) / len(train_envs) for r in last]
        worst = [r[f"env{test_env}_in_worst_group_acc"] for r in last if f"env{test_env}_in_worst_group_acc" in r]
        rows.append(
            {
                "arm": arm + (" (upper bound: reads color_agrees)" if arm in UPPER_BOUNDS else ""),
                "n": len(finished),
                "last step": _fmt(last_test),
                "seeds > 50% at last step": f"{sum(a > 0.5 for a in last_test)}/{len(last_test)}",
                f"evals > 50% after step {LATE_STEP}": late_share,
                "training-domain val.": _fmt(selected["training_domain"]),
                "leave-one-domain-out": _fmt(selected["leave_one_out"]),
                "oracle": _fmt(selected["oracle"]),
                "train envs (out), last step": _fmt(train_acc),
                "test worst group, last step": _fmt(worst),
                "last-step test accs": " ".join(f"{100 * a:.1f}" for a in last_test),
            }
        )
    return rows


def write_tables(args: argparse.Namespace, rows: list[dict[str, object]], command: str) -> str:
    header = list(rows[0])
    lines = [
        f"ColoredMNIST, test environment {args.test_envs}, {args.max_steps} steps, seeds {args.seeds}"
        f"{f', max_digits {args.max_digits}' if args.max_digits else ''}; test accuracy in % (mean ± SE over seeds).",
        "",
        f"Command: `{command}`",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    Path(args.output_root, "study.md").write_text(text, encoding="utf-8")
    with open(Path(args.output_root, "study.csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return text


def main(argv: list[str]) -> int:
    args, extra = parse_arguments(argv)
    jobs = commands(args, extra)
    if args.dry_run:
        for _, command in jobs:
            print(" ".join(command))
        return 0
    failures = []
    if not args.summarize_only:
        todo = [(f, c) for f, c in jobs if not os.path.exists(os.path.join(f, DONE_FILE))]
        print(f"{len(jobs)} runs, {len(jobs) - len(todo)} already done, {len(todo)} to run.", flush=True)
        threads = max(1, (os.cpu_count() or 1) // args.n_workers) if args.n_workers > 1 else None
        with ThreadPoolExecutor(max_workers=args.n_workers) as pool:
            for folder, code, seconds in pool.map(lambda job: run(*job, threads), todo):
                print(f"{'ok ' if code == 0 else 'FAILED'} {folder} ({seconds:.0f} s)", flush=True)
                if code:
                    failures.append(folder)
    rows = summarize(args)
    print(write_tables(args, rows, "python bench/study_issue12.py " + " ".join(argv)))
    Path(args.output_root, "study.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    if failures:
        print(f"{len(failures)} runs failed; see their log.txt: {failures}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
