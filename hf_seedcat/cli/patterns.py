"""``seedcat-patterns``: is there pattern imbalance in my data? The paper's Table 1 (CCT) and Figure 1 (t-SNE).

    seedcat-patterns --dataset RotatedMNIST --test_envs 0 --train_steps 1000 \
        --classes 0 1 --n_clusters 10 --output_dir patterns/RotatedMNIST

Writes OUT/cct.json (random, rep_path, rep_loss, path_loss ...), OUT/cct.md and OUT/tsne_*.png. With
--checkpoint it analyses a saved model folder (a seedcat-train output_dir); with --train_steps it first trains
an ERM model for N steps (DomainBed's protocol, seedcat-train's defaults) into OUT/erm.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import datasets

from ..analysis import analyze_patterns, load_classifier
from ..data_scripts import DATASETS, load_domain_dataset
from ..experiment import run_experiment
from .console import CommandParser, run_command
from .train import parse_arguments


def parse(argv: list[str]) -> argparse.Namespace:
    parser = CommandParser(prog="seedcat-patterns", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help=f"Dataset name: {sorted(DATASETS)}.")
    parser.add_argument("--data_dir", default=None, help="Where the raw data lives; default: the cache.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="A saved model folder (config.json + model.safetensors).")
    source.add_argument("--train_steps", type=int, help="Train an ERM model for this many steps first.")
    parser.add_argument("--test_envs", type=int, nargs="+", default=[0], help="Held-out environments.")
    parser.add_argument(
        "--split",
        choices=["train", "test"],
        default="train",
        help="Analyse the training environments' in-splits (what the model learned from) or the test environments.",
    )
    parser.add_argument("--classes", type=int, nargs="+", default=[0, 1], help="Classes to analyse, one group each.")
    parser.add_argument("--n_clusters", type=int, default=10, help="K of k-means in every view (the paper: 10).")
    parser.add_argument("--max_per_class", type=int, default=2000, help="Samples drawn per class.")
    parser.add_argument(
        "--path_encoding",
        choices=["index", "onehot"],
        default="index",
        help="k-means on activation paths as raw channel indices (the paper) or one-hot per stage.",
    )
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bf16", action="store_true", help="Train in bf16 (with --train_steps).")
    parser.add_argument("--max_digits", type=int, default=None, help="Use only N MNIST digits (smoke tests).")
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args(argv)
    if args.train_steps is not None and args.train_steps < 1:
        parser.error("--train_steps must be a positive number of steps.")
    return args


def train_erm(args: argparse.Namespace) -> str:
    """seedcat-train's training, algorithm ERM, for ``--train_steps`` steps; returns the saved model folder."""
    output_dir = os.path.join(args.output_dir, "erm")
    argv = ["--dataset", args.dataset, "--algorithm", "erm", "--max_steps", str(args.train_steps)]
    argv += ["--test_envs", *map(str, args.test_envs), "--seed", str(args.seed), "--output_dir", output_dir]
    argv += ["--eval_splits", "selection", "--checkpoint_freq", str(args.train_steps), "--disable_tqdm", "true"]
    if args.data_dir:
        argv += ["--data_dir", args.data_dir]
    if args.max_digits:
        argv += ["--max_digits", str(args.max_digits)]
    if args.bf16:
        argv.append("--bf16")
    run_experiment(*parse_arguments(argv))
    return output_dir


def analysed_split(args: argparse.Namespace) -> datasets.Dataset:
    data = load_domain_dataset(
        args.dataset, data_dir=args.data_dir, trial_seed=0, seed=args.seed, max_digits=args.max_digits
    )
    if args.split == "train":
        return data.training_dataset(args.test_envs)
    parts = [split for env in args.test_envs for split in (data.in_splits[env], data.out_splits[env])]
    return datasets.concatenate_datasets(parts).with_format("torch")


def analyze(argv: list[str]) -> dict:
    """Train (or load) the model, write the table and figures, print the table; returns the table."""
    args = parse(argv)
    checkpoint = args.checkpoint or train_erm(args)
    model = load_classifier(checkpoint)
    table, views = analyze_patterns(
        model,
        analysed_split(args),
        args.output_dir,
        classes=args.classes,
        n_clusters=args.n_clusters,
        max_per_class=args.max_per_class,
        batch_size=args.batch_size,
        path_encoding=args.path_encoding,
        seed=args.seed,
    )
    with open(os.path.join(args.output_dir, "cct.md")) as f:
        print(f"\n{args.dataset}, {checkpoint} -> {args.output_dir}\n{f.read()}")
    return table


def patterns(argv: list[str]) -> int:
    analyze(argv)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(patterns, argv)


if __name__ == "__main__":
    sys.exit(main())
