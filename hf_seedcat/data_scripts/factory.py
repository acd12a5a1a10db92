"""``load_domain_dataset(name, ...)``: one call for every dataset, registered by name or ``hub:OWNER/NAME``.

This module imports every built-in builder so that they register; no module of ``data_scripts`` imports it
(only the package ``__init__``), so the registry, the builders and the Hub loader import one way.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

# Importing the builders registers them.
from . import colored_mnist, image_folder, rotated_mnist, text_folder, worst_group_presets  # noqa: F401
from .domain_dataset import DomainDataset
from .hub_dataset import HUB_PREFIX, hub_dataset
from .registry import DATASETS, DatasetSpec, register_dataset

__all__ = ["DATASETS", "DatasetSpec", "dataset_spec", "load_domain_dataset", "register_dataset"]


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of a registered dataset, or of ``hub:OWNER/NAME`` (a Hub dataset, or a local folder that
    ``datasets.load_dataset`` reads), whose environments, modality and layout are read from its splits."""
    if name.startswith(HUB_PREFIX):
        dataset_id = name.removeprefix(HUB_PREFIX)
        if not dataset_id:
            raise ValueError("--dataset hub: needs a dataset id: hub:OWNER/NAME or hub:/path/to/folder.")
        builder = functools.partial(hub_dataset, dataset_id)
        return DatasetSpec(name=name, builder=builder, modality=None, split_based=None)
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}, or hub:OWNER/NAME")
    return DATASETS[name]


def load_domain_dataset(
    name: str,
    *,
    data_dir: str | None = None,
    trial_seed: int = 0,
    seed: int = 0,
    holdout_fraction: float = 0.2,
    max_digits: int | None = None,
    attribute_columns: Sequence[str] | None = None,
    **kwargs: Any,
) -> DomainDataset:
    """Build the dataset ``name``; extra keyword arguments go to its builder unchanged.

    ``attribute_columns``: ground-truth columns to keep beside the inputs in every split (int64 ids, a
    ``ClassLabel`` naming the values), for evaluation groups; the loader fails naming a column the data lacks.
    It and ``max_digits`` are passed only when set, so builders that have no such notion need not accept them.
    The result is checked against the dataset's spec.
    """
    spec = dataset_spec(name)
    if max_digits is not None:
        kwargs["max_digits"] = max_digits
    if attribute_columns:
        kwargs["attribute_columns"] = list(attribute_columns)
    data = spec.builder(
        data_dir=data_dir, trial_seed=trial_seed, seed=seed, holdout_fraction=holdout_fraction, **kwargs
    )
    spec.check_built(data)
    return data
