"""``seedcat-sweep``: run a sweep (``scripts/sweep.py``).

    seedcat-sweep --datasets ColoredMNIST --algorithms erm groupdro seedcat --n_trials 3 --n_hparams 1 \\
        --output_dir DIR [--launcher local|parallel|commands] [-- seedcat-train flags]

One folder per run under ``DIR/<dataset>/``; finished runs are skipped, unfinished ones resume. Flags
after ``--`` go to every run (e.g. ``-- --bf16 --eval_splits selection``). Each run is
``python -m hf_seedcat.cli.train`` with this interpreter, so a sweep works from any installation.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..sweep import LAUNCHERS, launch, make_jobs, write_commands
from .console import ArgumentParser, run_command


@dataclass
class SweepArguments:
    output_dir: str = field(metadata={"help": "Root folder of the sweep; one folder per run below DIR/<dataset>/."})
    datasets: list[str] = field(default_factory=lambda: ["ColoredMNIST"], metadata={"help": "Dataset names."})
    algorithms: list[str] = field(
        default_factory=lambda: ["erm", "groupdro", "seedcat"], metadata={"help": "Algorithms to compare."}
    )
    n_trials: int = field(default=3, metadata={"help": "Trials (seeds of the splits and the initial weights)."})
    n_hparams: int = field(
        default=1, metadata={"help": "Hyperparameter samples per trial: sample 0 is the defaults, others random."}
    )
    test_envs: list[int] | None = field(default=None, metadata={"help": "Test environments; default: each one."})
    leave_one_out: bool = field(
        default=False, metadata={"help": "Also run every pair of test environments (leave-one-domain-out selection)."}
    )
    data_dir: str | None = field(default=None, metadata={"help": "Passed to every run as --data_dir."})
    launcher: str = field(
        default="local",
        metadata={
            "help": "local: one run after another; parallel: --n_workers at a time; commands: only write "
            "DIR/commands.txt, one line per unfinished run, for a scheduler (e.g. a Slurm job array).",
            "choices": list(LAUNCHERS),
        },
    )
    n_workers: int = field(default=2, metadata={"help": "Runs at a time with --launcher parallel."})
    restart_unfinished: bool = field(
        default=False, metadata={"help": "Delete unfinished runs and start them over instead of resuming."}
    )
    dry_run: bool = field(default=False, metadata={"help": "Print what would run and exit."})

    def __post_init__(self) -> None:
        if self.n_trials < 1 or self.n_hparams < 1:
            raise ValueError(f"n_trials and n_hparams must be at least 1, got {self.n_trials} and {self.n_hparams}.")
        if self.n_workers < 1:
            raise ValueError(f"n_workers must be at least 1, got {self.n_workers}.")


def sweep(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = ArgumentParser(SweepArguments, prog="seedcat-sweep", description=__doc__.split("\n\n")[0])
    (args,) = parser.parse_args_into_dataclasses(args=own)
    jobs = make_jobs(
        args.datasets,
        args.algorithms,
        args.output_dir,
        n_trials=args.n_trials,
        n_hparams=args.n_hparams,
        test_envs=args.test_envs,
        leave_one_out=args.leave_one_out,
        extra_args=extra,
        data_dir=args.data_dir,
    )
    finished = sum(job.finished for job in jobs)
    print(f"{len(jobs)} runs: {finished} finished, {len(jobs) - finished} to run.")
    if args.dry_run:
        for job in jobs:
            print(("done  " if job.finished else "todo  ") + job.shell_command())
        return 0
    if args.launcher == "commands":
        path = os.path.join(args.output_dir, "commands.txt")
        count = write_commands(jobs, path)
        print(f"Wrote {count} commands to {path}; e.g. with Slurm:")
        print(f"  sbatch --array=1-{count} --wrap 'sed -n \"${{SLURM_ARRAY_TASK_ID}}p\" {path} | bash'")
        return 0
    outcome = launch(jobs, args.launcher, args.n_workers, args.restart_unfinished)
    print(f"ran {len(outcome['ran'])}, skipped {len(outcome['skipped'])} finished, failed {len(outcome['failed'])}.")
    for job in outcome["failed"]:
        print(f"  failed: {job.output_dir} (see its log.txt)")
    return 1 if outcome["failed"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(sweep, argv)


if __name__ == "__main__":
    sys.exit(main())
