"""``seedcat-train``: one domain-generalisation run (``python -m hf_seedcat.cli.train``, ``scripts/run_dg.py``).

With no arguments it runs the main job of DomainBed's protocol: ColoredMNIST, seedcat, test environment 2,
5000 steps, and prints a per-environment accuracy table. Every ``DomainBedConfig`` field is a flag
(``--help``); ``accelerate launch`` and ``torchrun`` run it on several processes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import torch

from ..experiment import DomainGeneralizationArguments, accuracy_table, run_experiment
from ..hub import HubPushError
from ..protocol import DomainBedConfig
from .console import ArgumentParser, run_command


def argument_parser() -> ArgumentParser:
    """The flags of one run: the dataset and evaluation, then ``DomainBedConfig`` (every Trainer flag)."""
    return ArgumentParser((DomainGeneralizationArguments, DomainBedConfig), prog="seedcat-train")


def parse_arguments(argv: Sequence[str]) -> tuple[DomainGeneralizationArguments, DomainBedConfig]:
    """A run's flags as its arguments and its ``DomainBedConfig`` (DomainBed's protocol by default).

    Flags left out that depend on the data (learning rate, batch sizes) stay ``None`` until
    ``run_experiment`` knows the dataset. Without ``--output_dir`` the run goes to
    ``runs/<dataset>_<algorithm>_test<envs>_trial<t>_seed<s>``.
    """
    argv = list(argv)
    parser = argument_parser()
    given, _ = parser.parse_known_args(argv)  # argparse's values, before any dataclass is built
    if given.output_dir is None:
        argv += ["--output_dir", default_output_dir(given)]
    if given.bf16 and not given.use_cpu and not torch.cuda.is_available():
        argv.append("--use_cpu")  # TrainingArguments refuses bf16 without a GPU unless told to use the CPU
    dg_args, config, unknown = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    if unknown:
        raise ValueError(f"unrecognized arguments: {' '.join(unknown)} (see seedcat-train --help)")
    return dg_args, config


def default_output_dir(given: argparse.Namespace) -> str:
    envs = "".join(map(str, given.test_envs))
    return os.path.join(
        "runs", f"{given.dataset}_{given.algorithm}_test{envs}_trial{given.trial_seed}_seed{given.seed}"
    )


def train(argv: list[str]) -> int:
    dg_args, config = parse_arguments(argv)
    try:
        summary = run_experiment(dg_args, config)
    except HubPushError as error:  # the run is saved; only the upload failed, and the message says how to retry
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    if config.process_index == 0:
        print(f"\n{dg_args.dataset}, {config.algorithm}, test envs {dg_args.test_envs} -> {config.output_dir}")
        print(accuracy_table(summary))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(train, argv)


if __name__ == "__main__":
    sys.exit(main())
