"""``seedcat-quickstart``: the README's main job, sized for a 2-core CPU: ERM, then seed categories, same seed.

Both runs train the same initial weights on the same data (test environment 2, the -90% environment where
colour is anti-predictive) for ``--max_steps`` steps under DomainBed's protocol otherwise (Adam, lr 1e-3,
64 samples per training environment), are evaluated once at the end on the splits model selection reads,
and a per-environment table puts them side by side. Seedcat recomputes its categories at step 0 and every
``--regroup_steps`` (default: a third of the run), so it regroups twice from a trained model, not only from
the random one; after the table, one line per regroup says what its hardest categories held, then its final q.
It is a demonstration of the mechanism, not a benchmark: one seed, few steps, part of the digits. The
benchmark is DomainBed's full protocol, ``seedcat-train`` (hours on a CPU; see README.md for the GPU session).

    seedcat-quickstart [--max_steps 300] [--max_digits 10000] [--regroup_steps N] [--output_dir runs/quickstart]

Extra flags go to both runs (any ``seedcat-train`` flag, e.g. ``--bf16`` on a CPU with AVX512-BF16).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Sequence

from ..analysis.composition import read_composition, regroup_summary
from ..experiment import run_experiment
from .console import CommandParser, run_command
from .train import parse_arguments

ALGORITHMS = ("erm", "seedcat")


def quickstart(argv: list[str]) -> int:
    parser = CommandParser(prog="seedcat-quickstart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--max_steps", type=int, default=300)
    parser.add_argument("--max_digits", type=int, default=10000, help="MNIST digits used (70000: all).")
    parser.add_argument(
        "--regroup_steps", type=int, default=None, help="Seedcat's t0; default: a third of --max_steps."
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default=os.path.join("runs", "quickstart"))
    args, extra = parser.parse_known_args(argv)
    regroup_steps = args.regroup_steps or max(1, args.max_steps // 3)
    # Trainer pins evaluation batches by default; without an accelerator torch warns at every evaluation.
    warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true but no accelerator")
    summaries, seconds = {}, {}
    for number, algorithm in enumerate(ALGORITHMS, start=1):
        output_dir = os.path.join(args.output_dir, algorithm)
        print(announcement(number, algorithm, args.max_steps, args.max_digits, regroup_steps, output_dir), flush=True)
        run_argv = ["--dataset", "ColoredMNIST", "--algorithm", algorithm, "--test_envs", "2"]
        run_argv += ["--seed", str(args.seed), "--trial_seed", str(args.seed), "--max_steps", str(args.max_steps)]
        run_argv += ["--max_digits", str(args.max_digits), "--checkpoint_freq", str(args.max_steps)]
        run_argv += ["--eval_splits", "selection", "--save_steps", str(args.max_steps)]
        run_argv += ["--regroup_steps", str(regroup_steps)]
        run_argv += [*extra, "--output_dir", output_dir]
        start = time.perf_counter()
        summaries[algorithm] = run_experiment(*parse_arguments(run_argv))
        seconds[algorithm] = time.perf_counter() - start
    print()
    print(comparison_table(summaries, seconds))
    seedcat_dir = os.path.join(args.output_dir, "seedcat")
    print(f"\nseedcat's hardest categories at each regroup ({seedcat_dir}/group_composition.jsonl):")
    for record in read_composition(seedcat_dir):
        print(f"  {regroup_summary(record)}")
    print(f"seedcat's final q: {final_q(seedcat_dir)}")
    return 0


def announcement(
    number: int, algorithm: str, max_steps: int, max_digits: int, regroup_steps: int, output_dir: str
) -> str:
    """The line that starts a run: what it trains and where it writes."""
    what = f"[{number}/{len(ALGORITHMS)}] {algorithm}: {max_steps} steps on {max_digits:,} ColoredMNIST digits"
    if algorithm == "seedcat":
        steps = list(range(0, max_steps, regroup_steps))
        when = ", ".join(map(str, steps[:-1])) + (" and " if len(steps) > 1 else "") + str(steps[-1])
        what += f", seed categories recomputed at step{'s' if len(steps) > 1 else ''} {when}"
    return f"{what}, then evaluated -> {output_dir}"


def final_q(run_dir: str) -> str:
    """The q of every seed category at the run's last log (``trainer_state.json``), heaviest first."""
    with open(os.path.join(run_dir, "trainer_state.json"), encoding="utf-8") as handle:
        history = json.load(handle)["log_history"]
    last = next((entry for entry in reversed(history) if any(key.startswith("q/") for key in entry)), None)
    if last is None:
        return "not logged"
    weights = sorted(((value, key.removeprefix("q/")) for key, value in last.items() if key.startswith("q/")))
    return f"step {last['step']}: " + ", ".join(f"{name} {value:.3f}" for value, name in reversed(weights))


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
