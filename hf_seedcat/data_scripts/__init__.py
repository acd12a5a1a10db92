"""Domain-generalisation datasets as `datasets.Dataset`s with a `domain` column, registered by name.

Importing this package registers ColoredMNIST, RotatedMNIST, ImageFolder (and DomainBed's image
datasets by name) and TextFolder in `DATASETS`.
"""

from . import colored_mnist, image_folder, rotated_mnist, text_folder  # noqa: F401  (register the builders)
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

#: Ground-truth columns the built-in datasets keep beside the inputs. They never train: the trainer drops
#: them before the model even when nobody names them (e.g. with ``remove_unused_columns=False``).
KNOWN_ATTRIBUTE_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(colored_mnist.ATTRIBUTE_COLUMNS + rotated_mnist.ATTRIBUTE_COLUMNS)
)

__all__ = [
    "DATASETS",
    "DomainDataset",
    "KNOWN_ATTRIBUTE_COLUMNS",
    "MnistChecksumError",
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
