"""Carries each sample's position and seed category from the sampler to ``compute_loss``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from .data_scripts.attributes import KNOWN_ATTRIBUTE_COLUMNS
from .tensor_rows import TensorRows

#: The columns this module adds to every training row: the sample's position and its seed category.
INDEX_COLUMN = "seedcat_index"
GROUP_COLUMN = "seedcat_group"


class IndexedDataset(Dataset):
    """Wraps a dataset so a key ``(index, group)`` returns the row plus both ids, a plain ``index`` the row
    plus its index (a scoring pass has no groups, and a batch without the group column is never weighted)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: list[int | tuple[int, int]]) -> list[dict[str, Any]]:
        if not keys or not isinstance(keys[0], tuple):
            indices = [int(key) for key in keys]
            return [{**row, INDEX_COLUMN: index} for row, index in zip(self._rows(indices), indices, strict=True)]
        rows = self._rows([index for index, _ in keys])
        return [
            {**row, INDEX_COLUMN: index, GROUP_COLUMN: group} for row, (index, group) in zip(rows, keys, strict=True)
        ]

    def _rows(self, indices: list[int]) -> list[dict[str, Any]]:
        # One columnar read for the whole batch: per-row reads from Arrow cost several times more.
        try:
            if isinstance(self.dataset, TensorRows):
                return self.dataset.__getitems__(indices)
            if hasattr(self.dataset, "column_names"):
                batch = self.dataset[indices]
                return [{column: values[i] for column, values in batch.items()} for i in range(len(indices))]
            return [self.dataset[i] for i in indices]
        except Exception as error:
            raise RuntimeError(f"{self._find_unreadable(indices, error)}: {type(error).__name__}: {error}") from error

    def _find_unreadable(self, indices: list[int], error: Exception) -> str:
        """Name the sample(s) that fail to load on their own, so a corrupt one can be found and fixed."""
        bad = []
        for index in dict.fromkeys(indices):  # a batch drawn with replacement may repeat a sample
            try:
                self.dataset[index]
            except Exception:
                bad.append(index)
        if not bad:
            return f"Reading samples {indices[:10]} failed as a batch"
        return f"Sample(s) {bad[:10]} of the dataset could not be read"


def check_training_dataset(dataset: Any, domain_column: str) -> None:
    """A training set SeedCatTrainer can group: a ``datasets.Dataset`` with the domain column and ``labels``."""
    columns = getattr(dataset, "column_names", None)
    if columns is None:
        raise TypeError("SeedCatTrainer needs a datasets.Dataset (with a domain column) as train_dataset.")
    for column in (domain_column, "labels"):
        if column not in columns:
            raise ValueError(
                f"The training dataset has no {column!r} column (columns: {columns}); "
                + (
                    "set --domain_column to the column that names each sample's domain."
                    if column == domain_column
                    else "name the class column 'labels'."
                )
            )
    if len(dataset) == 0:
        raise ValueError("The training dataset is empty.")


def check_same_rows(scoring_dataset: Any, train_dataset: Any) -> None:
    """The regroup pass's rows must be the training rows, in the same order (maybe without augmentation)."""
    if scoring_dataset is not None and train_dataset is not None and len(scoring_dataset) != len(train_dataset):
        raise ValueError(
            f"scoring_dataset has {len(scoring_dataset)} rows but train_dataset {len(train_dataset)}: "
            "it must hold the same samples in the same order."
        )


def hidden_columns(
    domain_column: str, attribute_columns: Sequence[str] | None = None, group_column: str | None = None
) -> tuple[str, ...]:
    """The columns a batch carries that the model must not see: the domain, this module's ids, and every
    attribute column (named, or one the built-in datasets keep), which is ground truth for evaluation only."""
    named = (*(attribute_columns or []), *([group_column] if group_column else []))
    return (domain_column, INDEX_COLUMN, GROUP_COLUMN, *dict.fromkeys((*named, *KNOWN_ATTRIBUTE_COLUMNS)))


def split_batch(inputs: dict[str, Any], hidden: Sequence[str]) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Model inputs, labels, and the ``hidden`` columns present in the batch."""
    inputs = dict(inputs)
    labels = inputs.pop("labels")
    extras = {key: inputs.pop(key) for key in hidden if key in inputs}
    return inputs, labels, extras


def evaluation_columns(
    batch: dict[str, Any], domain_column: str, attribute_columns: Sequence[str] | None
) -> tuple[torch.Tensor, ...]:
    """What an evaluation step returns beside the labels: the domains, then the named attributes as one
    int64 [batch, A] tensor, each only when the batch has it."""
    named = list(attribute_columns or [])
    domains = batch.get(domain_column)
    attributes = torch.stack([batch[c].long() for c in named], dim=1) if named and named[0] in batch else None
    return tuple(t for t in (domains, attributes) if t is not None)
