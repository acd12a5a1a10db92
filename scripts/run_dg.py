"""Train one domain-generalisation run: ``python scripts/run_dg.py`` or ``accelerate launch scripts/run_dg.py``.

With no arguments it runs the main job: ColoredMNIST, seedcat, test environment 2, 5000 steps, and
prints a per-environment accuracy table. Every ``SeedCatConfig`` field is a flag (``--help``).
"""

import sys

from hf_seedcat.experiment import accuracy_table, parse_arguments, run_experiment


def main(argv: list[str]) -> None:
    dg_args, config, batch_size_given = parse_arguments(argv)
    summary = run_experiment(dg_args, config, batch_size_given)
    if config.process_index == 0:
        print(f"\n{dg_args.dataset}, {config.algorithm}, test envs {dg_args.test_envs} -> {config.output_dir}")
        print(accuracy_table(summary))


if __name__ == "__main__":
    main(sys.argv[1:])
