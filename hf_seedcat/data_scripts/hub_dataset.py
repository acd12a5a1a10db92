"""A dataset from the Hugging Face Hub, or a local folder ``load_dataset`` reads: ``--dataset hub:OWNER/NAME``.

Two layouts, chosen from the splits the data has:

- **Split-based**: splits ``train``, ``validation`` (or ``val``, ``valid``) and ``test``, as worst-group
  benchmarks (Waterbirds, CelebA, CivilComments, MultiNLI) are published. Train on train, select on
  validation, report on test: one environment, ``all``, whose in-split is train and out-split validation,
  and ``DomainDataset.test_split`` the test split. A domain column is not needed and not used for training;
  name it in ``attribute_columns`` to report per-domain accuracy.
- **Domain-based** (DomainBed's): otherwise, the ``train`` split (or ``split``) holds a ``--domain_column``
  with two values or more; each value's rows become one environment, split in/out like DomainBed. Passing
  ``split`` forces this layout on that split.

An ``image`` column (or ``--image_column``) makes it an image dataset, decoded lazily like an image folder;
otherwise ``--text_column`` (default ``text``) makes it a text dataset. Columns named in ``attribute_columns``
are kept beside the input as int64 ids (``columns.attribute_ids``); every other column is dropped. The
provenance's ``rows_checksum`` covers every split as ``load_dataset`` returned it, all columns included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import numpy as np

from .checksum import dataset_provenance, fingerprinted_by_rows, rows_checksum
from .columns import (
    IMAGE_COLUMN,
    TEXT_COLUMN,
    TEXT_PAIR_COLUMN,
    attribute_ids,
    check_attribute_names,
    require_attribute_columns,
    value_ids,
)
from .domain_dataset import SPLIT_NAMES, DomainDataset, domain_dataset_from_datasets

logger = logging.getLogger(__name__)

HUB_PREFIX = "hub:"
VALIDATION_SPLITS = ("validation", "val", "valid")  # accepted names of the split that selects models
SPLIT_BASED_ENVIRONMENT = "all"  # the one environment of a split-based dataset
SPLIT_LAYOUT_HINT = (
    "or give the data train, validation and test splits (e.g. train.parquet, validation.parquet, test.parquet) "
    "to train on train, select on validation and report on test without a domain column"
)


def hub_dataset(
    dataset_id: str,
    *,
    domain_column: str = "domain",
    label_column: str | None = None,
    image_column: str | None = None,
    text_column: str | None = None,
    attribute_columns: Sequence[str] | None = None,
    split: str | None = None,
    revision: str | None = None,
    trial_seed: int = 0,
    holdout_fraction: float = 0.2,
    **_: Any,
) -> DomainDataset:
    """Load every split of ``dataset_id`` (at ``revision``) and build the layout its splits call for
    (see the module's docstring); ``split`` forces the domain layout on that split."""
    loaded = load_splits(dataset_id, revision=revision)
    local = os.path.isdir(dataset_id)
    checksum = rows_checksum(loaded, root=dataset_id if local else None)
    provenance = dataset_provenance(
        dataset_id,
        revision="local" if local and revision is None else revision,
        data_dir=dataset_id if local else None,
        rows_checksum=checksum,
    )
    return domain_dataset_from_splits(
        dataset_id,
        fingerprinted_by_rows(loaded, checksum),
        domain_column=domain_column,
        label_column=label_column,
        image_column=image_column,
        text_column=text_column,
        attribute_columns=attribute_columns,
        split=split,
        trial_seed=trial_seed,
        holdout_fraction=holdout_fraction,
        provenance=provenance,
    )


def load_splits(path: str, **load_kwargs: Any) -> datasets.DatasetDict:
    """Every split of ``datasets.load_dataset(path, **load_kwargs)``, as a ``DatasetDict``."""
    loaded = datasets.load_dataset(path, **load_kwargs)
    if not isinstance(loaded, datasets.DatasetDict):  # a loader that returned one split
        loaded = datasets.DatasetDict({"train": loaded})
    return loaded


def split_roles(splits: Sequence[str]) -> dict[str, str]:
    """``{"train": ..., "validation": ..., "test": ...}``: the data's split for each role it has."""
    roles = {}
    if "train" in splits:
        roles["train"] = "train"
    validation = next((name for name in VALIDATION_SPLITS if name in splits), None)
    if validation is not None:
        roles["validation"] = validation
    if "test" in splits:
        roles["test"] = "test"
    return roles


def domain_dataset_from_splits(
    name: str,
    splits: Mapping[str, datasets.Dataset],
    *,
    domain_column: str = "domain",
    label_column: str | None = None,
    image_column: str | None = None,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    attribute_columns: Sequence[str] | None = None,
    split: str | None = None,
    trial_seed: int = 0,
    holdout_fraction: float = 0.2,
    provenance: dict[str, Any] | None = None,
    **fields: Any,
) -> DomainDataset:
    """A ``DomainDataset`` from named splits in either layout (see the module's docstring).

    ``label_column`` defaults to ``labels`` if there is one, else ``label``; ``text_pair_column`` names the
    second sentence of a text pair (kept as ``text_pair``). ``fields`` fill the rest of ``DomainDataset``.
    """
    attributes = check_attribute_names(name, attribute_columns or ())
    present = list(splits)
    if split is not None:
        if split not in splits:
            raise ValueError(f"{name}: no split {split!r}; its splits are {present}.")
        layout = "domains"
    else:
        roles = split_roles(present)
        layout = "splits" if len(roles) == 3 else "domains"
        split = "train" if "train" in splits else (present[0] if len(present) == 1 else None)
        if split is None:
            raise ValueError(
                f"{name}: no train split; its splits are {present}. Name the training split 'train' (with "
                f"'validation' and 'test' beside it for the split-based layout), or pass split=NAME."
            )
    columns = list(splits[split].column_names if layout == "domains" else splits["train"].column_names)
    label_column = label_column or ("labels" if "labels" in columns else "label")
    image_column = image_column or (IMAGE_COLUMN if IMAGE_COLUMN in columns else None)
    inputs = {
        "label_column": label_column,
        "input_column": image_column or text_column or TEXT_COLUMN,
        "is_image": image_column is not None,
        "text_pair_column": text_pair_column,
        "attributes": attributes,
    }
    common = {
        "num_classes": None,
        "input_shape": (3, 224, 224) if image_column else (),
        "modality": "image" if image_column else "text",
        "attribute_columns": attributes,
        "provenance": provenance or dataset_provenance(name, rows_checksum=rows_checksum(splits)),
        **fields,
    }
    if layout == "splits":
        return _split_layout(
            name, {role: splits[actual] for role, actual in roles.items()}, domain_column, inputs, common
        )
    missing_roles = [role for role in SPLIT_NAMES if role not in split_roles(present)]
    return _domain_layout(
        name, splits[split], domain_column, inputs, common, trial_seed, holdout_fraction, present, missing_roles
    )


def _split_layout(
    name: str, splits: dict[str, datasets.Dataset], domain_column: str, inputs: dict[str, Any], common: dict[str, Any]
) -> DomainDataset:
    """Train / validation / test as one environment: in-split train, out-split validation, test_split test."""
    for role, table in splits.items():
        _require_columns(f"{name} ({role} split)", table.column_names, inputs)
    train = splits["train"]
    if domain_column in train.column_names and len(set(train[domain_column])) > 1:
        logger.warning(
            "%s comes as train/validation/test splits, so it trains as one unit: its column %r is not used to "
            "group training. To report accuracy per value, name it in --attribute_columns (a column called "
            "'domain' needs another name first: the loader writes its own).",
            name,
            domain_column,
        )
    zeros = {role: np.zeros(len(table), dtype=np.int64) for role, table in splits.items()}
    prepared, classes = _standard_columns(name, splits, [SPLIT_BASED_ENVIRONMENT], zeros, **inputs)
    return DomainDataset(
        name=name,
        environments=[SPLIT_BASED_ENVIRONMENT],
        in_splits=[prepared["train"]],
        out_splits=[prepared["validation"]],
        test_split=prepared["test"],
        class_names=classes,
        **{**common, "num_classes": len(classes)},
    )


def _domain_layout(
    name: str,
    table: datasets.Dataset,
    domain_column: str,
    inputs: dict[str, Any],
    common: dict[str, Any],
    trial_seed: int,
    holdout_fraction: float,
    present: list[str],
    missing_roles: list[str],
) -> DomainDataset:
    """DomainBed's layout: one environment per value of ``domain_column`` (sorted), each split in/out."""
    splits_note = (
        ""
        if present == ["train"]
        else f" Its splits are {present}; the split-based layout lacks {', '.join(map(repr, missing_roles))}."
    )
    try:
        _require_columns(name, table.column_names, inputs, domain_column=domain_column)
    except ValueError as error:
        raise ValueError(f"{str(error).rstrip('.')}; {SPLIT_LAYOUT_HINT}.{splits_note}") from None
    domains, domain_ids = value_ids(
        table[domain_column], table.features[domain_column], column=domain_column, source=name
    )
    if len(set(domain_ids.tolist())) < 2:
        raise ValueError(
            f"{name}: column {domain_column!r} names {len(set(domain_ids.tolist()))} domain(s) "
            f"({', '.join(domains)}); at least two are needed to make environments. Set --domain_column to "
            f"a column with two values or more, {SPLIT_LAYOUT_HINT}.{splits_note}"
        )
    prepared, classes = _standard_columns(name, {"all": table}, domains, {"all": domain_ids}, **inputs)
    rows = prepared["all"]
    envs = [rows.select(np.flatnonzero(domain_ids == i)).flatten_indices() for i in range(len(domains))]
    return domain_dataset_from_datasets(
        name,
        envs,
        trial_seed=trial_seed,
        holdout_fraction=holdout_fraction,
        class_names=classes,
        **{**common, "num_classes": len(classes)},
    )


def _require_columns(
    source: str, columns: Sequence[str], inputs: dict[str, Any], domain_column: str | None = None
) -> None:
    wanted = [domain_column, inputs["label_column"], inputs["input_column"], inputs["text_pair_column"]]
    missing = [c for c in wanted if c is not None and c not in columns]
    if missing:
        raise ValueError(
            f"{source}: no column {missing} (columns: {list(columns)}); set --domain_column, "
            "--label_column and --image_column or --text_column."
        )
    require_attribute_columns(source, columns, inputs["attributes"], "Name one of those (the dataset card lists them)")


def _standard_columns(
    name: str,
    tables: dict[str, datasets.Dataset],
    domain_names: list[str],
    domain_ids: dict[str, np.ndarray],
    *,
    label_column: str,
    input_column: str,
    is_image: bool,
    text_pair_column: str | None,
    attributes: list[str],
) -> tuple[dict[str, datasets.Dataset], list[str]]:
    """Each table with the loaders' columns only: the input (``image`` undecoded, or ``text`` and
    ``text_pair``), ``labels``, ``domain`` and the attributes, labels and attributes encoded over all tables
    together so a value has one id in every split. Returns the tables and the class names."""
    classes, label_ids = _joint_ids(name, tables, label_column, value_ids)
    encoded = {column: _joint_ids(name, tables, column, attribute_ids) for column in attributes}
    renames = {input_column: IMAGE_COLUMN if is_image else TEXT_COLUMN}
    if text_pair_column is not None:
        renames[text_pair_column] = TEXT_PAIR_COLUMN
    prepared, start = {}, 0
    for key, table in tables.items():
        end = start + len(table)
        if is_image:  # before select_columns: datasets' cast drops the rows of a block left without columns
            table = table.cast_column(input_column, datasets.Image(decode=False))
        table = table.select_columns(list(renames))
        table = table.rename_columns({old: new for old, new in renames.items() if old != new})
        table = table.add_column("labels", label_ids[start:end], feature=datasets.ClassLabel(names=classes))
        table = table.add_column("domain", domain_ids[key], feature=datasets.ClassLabel(names=domain_names))
        for column, (names, ids) in encoded.items():
            table = table.add_column(column, ids[start:end], feature=datasets.ClassLabel(names=names))
        prepared[key], start = table, end
    return prepared, classes


def _joint_ids(
    name: str, tables: dict[str, datasets.Dataset], column: str, encode: Any
) -> tuple[list[str], np.ndarray]:
    """``encode`` (``value_ids`` or ``attribute_ids``) over ``column`` of every table, in order."""
    features = {key: table.features[column] for key, table in tables.items()}
    if len({repr(feature) for feature in features.values()}) > 1:
        described = ", ".join(f"{key}: {feature}" for key, feature in features.items())
        raise ValueError(f"{name}: column {column!r} has a different type in each split ({described}).")
    values = [value for table in tables.values() for value in table[column]]
    return encode(values, next(iter(features.values())), column=column, source=name)
