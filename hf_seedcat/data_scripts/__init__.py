"""Domain-generalisation datasets as `datasets.Dataset`s with a `domain` column, registered by name.

Importing this package registers ColoredMNIST, RotatedMNIST, ImageFolder (and DomainBed's image
datasets by name) and TextFolder in `DATASETS`.
"""

from . import colored_mnist, image_folder, rotated_mnist, text_folder  # noqa: F401  (register the builders)
from .attributes import KNOWN_ATTRIBUTE_COLUMNS, check_attribute_columns
from .domain_dataset import (
    DATASETS,
    DomainDataset,
    domain_dataset_from_datasets,
    domain_dataset_from_environments,
    environment_dataset,
    load_domain_dataset,
    register_dataset,
    seed_hash,
    split_in_out,
    split_keys,
)
from .mnist import MnistChecksumError, load_mnist

__all__ = [
    "DATASETS",
    "DomainDataset",
    "KNOWN_ATTRIBUTE_COLUMNS",
    "MnistChecksumError",
    "check_attribute_columns",
    "domain_dataset_from_datasets",
    "domain_dataset_from_environments",
    "environment_dataset",
    "load_domain_dataset",
    "load_mnist",
    "register_dataset",
    "seed_hash",
    "split_in_out",
    "split_keys",
]
