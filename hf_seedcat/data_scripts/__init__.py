"""Domain-generalisation datasets as `datasets.Dataset`s with a `domain` column, registered by name.

``load_domain_dataset(name, ...)`` builds ColoredMNIST, RotatedMNIST, ImageFolder (and DomainBed's image
datasets by name), TextFolder, the worst-group benchmarks (Waterbirds, CelebA, CivilComments, MultiNLI; split-based:
train / validation / test) or ``hub:OWNER/NAME``; ``DATASETS`` holds their specs. Names are imported on
first use (PEP 562): the Trainer needs the attribute columns and a sweep DomainBed's seed hash, not timm,
pandas and every builder. The registry's names come from ``factory.py``, which imports every builder, so
``DATASETS`` is complete whenever it is read from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_exports

_EXPORTS = {
    "DATASETS": ".factory",
    "DatasetSpec": ".factory",
    "DomainDataset": ".domain_dataset",
    "KNOWN_ATTRIBUTE_COLUMNS": ".attributes",
    "MnistChecksumError": ".mnist",
    "PROVENANCE_KEYS": ".checksum",
    "SPLIT_NAMES": ".domain_dataset",
    "WORST_GROUP_PRESETS": ".worst_group_presets",
    "WorstGroupPreset": ".worst_group_presets",
    "check_attribute_columns": ".attributes",
    "dataset_provenance": ".checksum",
    "dataset_spec": ".factory",
    "domain_dataset_from_datasets": ".domain_dataset",
    "domain_dataset_from_environments": ".domain_dataset",
    "domain_dataset_from_splits": ".hub_dataset",
    "environment_dataset": ".domain_dataset",
    "load_domain_dataset": ".factory",
    "load_mnist": ".mnist",
    "register_dataset": ".factory",
    "rows_checksum": ".checksum",
    "seed_hash": ".domain_dataset",
    "split_in_out": ".domain_dataset",
    "split_keys": ".domain_dataset",
}

if TYPE_CHECKING:
    from .attributes import KNOWN_ATTRIBUTE_COLUMNS, check_attribute_columns
    from .checksum import PROVENANCE_KEYS, dataset_provenance, rows_checksum
    from .domain_dataset import (
        SPLIT_NAMES,
        DomainDataset,
        domain_dataset_from_datasets,
        domain_dataset_from_environments,
        environment_dataset,
        seed_hash,
        split_in_out,
        split_keys,
    )
    from .factory import DATASETS, DatasetSpec, dataset_spec, load_domain_dataset, register_dataset
    from .hub_dataset import domain_dataset_from_splits
    from .mnist import MnistChecksumError, load_mnist
    from .worst_group_presets import WORST_GROUP_PRESETS, WorstGroupPreset

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DomainDataset",
    "KNOWN_ATTRIBUTE_COLUMNS",
    "MnistChecksumError",
    "PROVENANCE_KEYS",
    "SPLIT_NAMES",
    "WORST_GROUP_PRESETS",
    "WorstGroupPreset",
    "check_attribute_columns",
    "dataset_provenance",
    "dataset_spec",
    "domain_dataset_from_datasets",
    "domain_dataset_from_environments",
    "domain_dataset_from_splits",
    "environment_dataset",
    "load_domain_dataset",
    "load_mnist",
    "register_dataset",
    "rows_checksum",
    "seed_hash",
    "split_in_out",
    "split_keys",
]
