"""``seedcat-quickstart``: the README's main job, sized for a 2-core CPU: ERM, then seed categories, same seed.

Both runs train the same initial weights on the same data (test environment 2, the -90% environment where
colour is anti-predictive) for ``--max_steps`` steps under DomainBed's protocol otherwise (Adam, lr 1e-3,
64 samples per training environment), are evaluated once at the end on the splits model selection reads,
and a per-environment table puts them side by side. It is a demonstration of the mechanism, not a
benchmark: one seed, few steps, part of the digits. The benchmark is DomainBed's full protocol,
``seedcat-train`` (hours on a CPU; see README.md for the GPU session that ran it).

    seedcat-quickstart [--max_steps 500] [--max_digits 20000] [--output_dir runs/quickstart] [FLAGS]

Extra flags go to both runs (any ``seedcat-train`` flag, e.g. ``--bf16`` on a CPU with AVX512-BF16).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from ..experiment import run_experiment
from .console import CommandParser, run_command
from .train import parse_arguments

ALGORITHMS = ("erm", "seedcat")


def quickstart(argv: list[str]) -> int:
    parser = CommandParser(prog="seedcat-quickstart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--max_steps", type=int, default=500)
    parser.add_argument("--max_digits", type=int, default=20000, help="MNIST digits used (70000: all).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default=os.path.join("runs", "quickstart"))
    args, extra = parser.parse_known_args(argv)
    summaries, seconds = {}, {}
    for algorithm in ALGORITHMS:
        run_argv = ["--dataset", "ColoredMNIST", "--algorithm", algorithm, "--test_envs", "2"]
        run_argv += ["--seed", str(args.seed), "--trial_seed", str(args.seed), "--max_steps", str(args.max_steps)]
        run_argv += ["--max_digits", str(args.max_digits), "--checkpoint_freq", str(args.max_steps)]
        run_argv += ["--eval_splits", "selection", "--save_steps", str(args.max_steps), "--disable_tqdm", "true"]
        run_argv += [*extra, "--output_dir", os.path.join(args.output_dir, algorithm)]
        start = time.perf_counter()
        summaries[algorithm] = run_experiment(*parse_arguments(run_argv))
        seconds[algorithm] = time.perf_counter() - start
    print(comparison_table(summaries, seconds))
    return 0


def comparison_table(summaries: dict, seconds: dict[str, float]) -> str:
    """Accuracy (%) per environment at the last step: the training environments' held-out splits and the
    test environment's in split, one row per algorithm."""
    first = next(iter(summaries.values()))
    envs, test_envs = first["environments"], first["test_envs"]
    header = ["algorithm", "step"]
    header += [f"{name} ({'test' if i in test_envs else 'train, held out'})" for i, name in enumerate(envs)]
    lines = ["| " + " | ".join([*header, "wall time"]) + " |", "|" + " --- |" * (len(header) + 1)]
    for algorithm, summary in summaries.items():
        last = summary["last"]
        splits = ["in" if i in test_envs else "out" for i in range(len(envs))]
        cells = [f"{100 * last[f'env{i}_{split}_acc']:.1f}" for i, split in enumerate(splits)]
        lines.append(f"| {algorithm} | {last['step']} | " + " | ".join(cells) + f" | {seconds[algorithm]:.0f} s |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(quickstart, argv)


if __name__ == "__main__":
    sys.exit(main())
