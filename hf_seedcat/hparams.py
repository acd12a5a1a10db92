"""Hyperparameters a sweep varies: defaults for sample 0, DomainBed-style random draws for the others.

The distributions follow DomainBed's ``hparams_registry`` (small images: the MNIST datasets), plus
the seed-category knobs. Each hyperparameter is drawn from its own random stream seeded by its name,
the sample and the trial, so a shared one (the learning rate, say) takes the same value for every
algorithm in the same sample and trial: a paired comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .data_scripts.domain_dataset import seed_hash

SMALL_IMAGE_DATASETS = ("ColoredMNIST", "RotatedMNIST")

Draw = Callable[[np.random.RandomState], Any]


def _registry(algorithm: str, dataset: str) -> dict[str, tuple[Any, Draw]]:
    """name -> (default, random draw). ``batch_size`` is per training environment, as in DomainBed."""
    small = dataset in SMALL_IMAGE_DATASETS
    entries: dict[str, tuple[Any, Draw]] = {
        "lr": (1e-3, lambda r: 10 ** r.uniform(-4.5, -2.5)) if small else (5e-5, lambda r: 10 ** r.uniform(-5, -3.5)),
        "weight_decay": (0.0, lambda r: 0.0) if small else (0.0, lambda r: 10 ** r.uniform(-6, -2)),
        "batch_size": (64, lambda r: int(2 ** r.uniform(3, 9)))
        if small
        else (32, lambda r: int(2 ** r.uniform(3, 5.5))),
    }
    if algorithm in ("groupdro", "seedcat"):
        entries["dro_eta"] = (1e-2, lambda r: 10 ** r.uniform(-3, -1))
    if algorithm == "seedcat":
        entries["groups_per_domain"] = (4, lambda r: int(r.choice([2, 3, 4])))
        entries["regroup_steps"] = (1000, lambda r: int(r.choice([500, 1000, 2000])))
    return entries


def default_hparams(algorithm: str, dataset: str) -> dict[str, Any]:
    return {name: default for name, (default, _) in _registry(algorithm, dataset).items()}


def sample_hparams(algorithm: str, dataset: str, hparams_seed: int, trial_seed: int) -> dict[str, Any]:
    """Sample 0 is the defaults; any other sample draws every hyperparameter at random."""
    if hparams_seed == 0:
        return default_hparams(algorithm, dataset)
    return {
        name: draw(np.random.RandomState(seed_hash(name, hparams_seed, trial_seed)))
        for name, (_, draw) in _registry(algorithm, dataset).items()
    }


FLAGS = {
    "lr": "--learning_rate",
    "weight_decay": "--weight_decay",
    "dro_eta": "--dro_eta",
    "groups_per_domain": "--groups_per_domain",
    "regroup_steps": "--regroup_steps",
}


def hparams_to_flags(hparams: dict[str, Any], n_train_envs: int) -> list[str]:
    """``run_dg.py`` flags; the per-environment batch becomes the total batch of one process."""
    flags = []
    for name, value in hparams.items():
        if name == "batch_size":
            flags += ["--per_device_train_batch_size", str(value * n_train_envs)]
        else:
            flags += [FLAGS[name], str(value)]
    return flags
