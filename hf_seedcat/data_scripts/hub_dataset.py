"""A dataset from the Hugging Face Hub (or a local folder ``load_dataset`` reads) whose rows name their
domain: ``--dataset hub:OWNER/NAME --domain_column COL``.

The rows of each domain become one environment, split in/out like DomainBed. An ``image`` column
(or ``--image_column``) makes it an image dataset, decoded lazily like an image folder; otherwise
``--text_column`` (default ``text``) makes it a text dataset.
"""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np

from .domain_dataset import DomainDataset, domain_dataset_from_datasets
from .image_folder import IMAGE_COLUMN
from .text_folder import TEXT_COLUMN

HUB_PREFIX = "hub:"


def hub_dataset(
    dataset_id: str,
    *,
    domain_column: str = "domain",
    label_column: str | None = None,
    image_column: str | None = None,
    text_column: str | None = None,
    split: str = "train",
    trial_seed: int = 0,
    holdout_fraction: float = 0.2,
    **_: Any,
) -> DomainDataset:
    """Load ``split`` of ``dataset_id`` and make one environment per value of ``domain_column`` (sorted)."""
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
    domains, domain_ids = _class_ids(table, domain_column)
    classes, label_ids = _class_ids(table, label_column)
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
    )


def _class_ids(table: datasets.Dataset, column: str) -> tuple[list[str], np.ndarray]:
    """Names and per-row ids of a column: a ClassLabel's own names, else its sorted distinct values."""
    feature = table.features[column]
    values = np.asarray(table[column])
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names), values.astype(np.int64)
    distinct = sorted(set(values.tolist()))
    index = {value: i for i, value in enumerate(distinct)}
    return [str(v) for v in distinct], np.asarray([index[v] for v in values.tolist()], dtype=np.int64)
