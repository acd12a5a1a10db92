"""Hyperparameters a sweep varies: defaults for sample 0, DomainBed-style random draws for the others.

The distributions follow DomainBed's ``hparams_registry`` (small images: the MNIST datasets), plus
the seed-category knobs and a fine-tuning default for text. A run takes sample 0 for every flag it is
not given (``DomainBedConfig.fill_data_defaults``), so a sweep's sample 0 and a bare run agree. Each
hyperparameter is drawn from its own random stream seeded by its name, the sample and the trial, so a
shared one (the learning rate, say) takes the same value for every algorithm in the same sample and
trial: a paired comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .data_scripts.domain_dataset import seed_hash

SMALL_IMAGE_DATASETS = ("ColoredMNIST", "RotatedMNIST")
TEXT_DATASETS = ("TextFolder",)

# Fine-tuning a pretrained text encoder: BERT (Devlin et al., 2019, appendix A.3) fine-tunes with Adam at a
# learning rate in {5e-5, 3e-5, 2e-5} and weight decay 0.01; sentence-transformers, whose all-MiniLM-L6-v2 is
# the default text model here, fine-tunes with exactly 2e-5 and 0.01 (``SentenceTransformer.fit``'s defaults),
# and WILDS' text datasets (CivilComments, Amazon) use weight decay 0.01 with DistilBERT too. DomainBed's 1e-3
# is for training a small CNN from scratch: at that rate a pretrained transformer forgets its pretraining.
TEXT_LR = 2e-5
TEXT_WEIGHT_DECAY = 0.01

Draw = Callable[[np.random.RandomState], Any]


def data_kind(dataset: str, modality: str | None = None) -> str:
    """``small_image`` (the MNIST datasets), ``image`` or ``text``: what the defaults depend on. ``modality``
    (a loaded dataset's) decides for datasets whose name does not say, such as ``hub:`` ones."""
    if dataset in SMALL_IMAGE_DATASETS:
        return "small_image"
    if modality == "text" or (modality is None and dataset in TEXT_DATASETS):
        return "text"
    return "image"


def _registry(algorithm: str, dataset: str, modality: str | None = None) -> dict[str, tuple[Any, Draw]]:
    """name -> (default, random draw). ``batch_size`` is per training environment, as in DomainBed."""
    kind = data_kind(dataset, modality)
    small = kind == "small_image"
    entries: dict[str, tuple[Any, Draw]] = {
        "lr": (1e-3, lambda r: 10 ** r.uniform(-4.5, -2.5)) if small else (5e-5, lambda r: 10 ** r.uniform(-5, -3.5)),
        "weight_decay": (0.0, lambda r: 0.0) if small else (0.0, lambda r: 10 ** r.uniform(-6, -2)),
        "batch_size": (64, lambda r: int(2 ** r.uniform(3, 9)))
        if small
        else (32, lambda r: int(2 ** r.uniform(3, 5.5))),
    }
    if kind == "text":  # the defaults only: the draws above already span the fine-tuning range
        entries["lr"] = (TEXT_LR, entries["lr"][1])
        entries["weight_decay"] = (TEXT_WEIGHT_DECAY, entries["weight_decay"][1])
    if algorithm in ("groupdro", "seedcat"):
        entries["dro_eta"] = (1e-2, lambda r: 10 ** r.uniform(-3, -1))
    if algorithm == "seedcat":
        entries["groups_per_domain"] = (4, lambda r: int(r.choice([2, 3, 4])))
        entries["regroup_steps"] = (1000, lambda r: int(r.choice([500, 1000, 2000])))
    return entries


def default_hparams(algorithm: str, dataset: str, modality: str | None = None) -> dict[str, Any]:
    """Sample 0: DomainBed's defaults for the dataset (see ``data_kind`` for ``modality``)."""
    return {name: default for name, (default, _) in _registry(algorithm, dataset, modality).items()}


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
    """``seedcat-train`` flags; the per-environment batch becomes the total batch of one process."""
    flags = []
    for name, value in hparams.items():
        if name == "batch_size":
            flags += ["--per_device_train_batch_size", str(value * n_train_envs)]
        else:
            flags += [FLAGS[name], str(value)]
    return flags
