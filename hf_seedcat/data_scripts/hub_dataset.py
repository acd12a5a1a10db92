"""A dataset from the Hugging Face Hub (or a local folder ``load_dataset`` reads) whose rows name their
domain: ``--dataset hub:OWNER/NAME --domain_column COL``.

The rows of each domain become one environment, split in/out like DomainBed. An ``image`` column
(or ``--image_column``) makes it an image dataset, decoded lazily like an image folder; otherwise
``--text_column`` (default ``text``) makes it a text dataset. Columns named in ``attribute_columns`` are kept
beside the input as int64 ids (``columns.attribute_ids``); every other column is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np

from .columns import (
    IMAGE_COLUMN,
    TEXT_COLUMN,
    attribute_ids,
    check_attribute_names,
    require_attribute_columns,
    value_ids,
)
from .domain_dataset import DomainDataset, domain_dataset_from_datasets

HUB_PREFIX = "hub:"


def hub_dataset(
    dataset_id: str,
    *,
    domain_column: str = "domain",
    label_column: str | None = None,
    image_column: str | None = None,
    text_column: str | None = None,
    attribute_columns: Sequence[str] | None = None,
    split: str = "train",
    trial_seed: int = 0,
    holdout_fraction: float = 0.2,
    **_: Any,
) -> DomainDataset:
    """Load ``split`` of ``dataset_id`` and make one environment per value of ``domain_column`` (sorted)."""
    attributes = check_attribute_names(dataset_id, attribute_columns or ())
    table = datasets.load_dataset(dataset_id, split=split)
    label_column = label_column or ("labels" if "labels" in table.column_names else "label")
    image_column = image_column or (IMAGE_COLUMN if IMAGE_COLUMN in table.column_names else None)
    text_column = text_column or TEXT_COLUMN
    input_column = image_column or text_column
    missing = [c for c in (domain_column, label_column, input_column) if c not in table.column_names]
    if missing:
        raise ValueError(
            f"{dataset_id}: no column {missing} (columns: {table.column_names}); set --domain_column, "
            "--label_column and --image_column or --text_column."
        )
    require_attribute_columns(
        dataset_id, table.column_names, attributes, "Name one of those (the dataset card lists them)"
    )
    domains, domain_ids = _class_ids(table, domain_column, dataset_id)
    classes, label_ids = _class_ids(table, label_column, dataset_id)
    encoded = {c: attribute_ids(table[c], table.features[c], column=c, source=dataset_id) for c in attributes}
    if len(domains) < 2:
        raise ValueError(
            f"{dataset_id}: column {domain_column!r} names {len(domains)} domain(s); at least two needed."
        )
    table = table.select_columns([input_column])
    if image_column:
        table = table.cast_column(image_column, datasets.Image(decode=False))
    if input_column != (IMAGE_COLUMN if image_column else TEXT_COLUMN):
        table = table.rename_column(input_column, IMAGE_COLUMN if image_column else TEXT_COLUMN)
    table = table.add_column("labels", label_ids.tolist()).add_column("domain", domain_ids.tolist())
    table = table.cast_column("labels", datasets.ClassLabel(names=classes))
    table = table.cast_column("domain", datasets.ClassLabel(names=domains))
    for column, (names, ids) in encoded.items():
        table = table.add_column(column, ids, feature=datasets.ClassLabel(names=names))
    envs = [table.select(np.flatnonzero(domain_ids == i)).flatten_indices() for i in range(len(domains))]
    return domain_dataset_from_datasets(
        dataset_id,
        envs,
        trial_seed=trial_seed,
        holdout_fraction=holdout_fraction,
        num_classes=len(classes),
        input_shape=(3, 224, 224) if image_column else (),
        modality="image" if image_column else "text",
        class_names=classes,
        attribute_columns=attributes,
    )


def _class_ids(table: datasets.Dataset, column: str, source: str) -> tuple[list[str], np.ndarray]:
    """Names and per-row ids of a column: a ClassLabel's own names, else its sorted distinct values."""
    return value_ids(table[column], table.features[column], column=column, source=source)
