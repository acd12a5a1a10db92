"""Carries each sample's position and seed category from the sampler to ``compute_loss``."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from .regroup import GROUP_COLUMN, INDEX_COLUMN


class IndexedDataset(Dataset):
    """Wraps a dataset so a key ``(index, group)`` (or a plain ``index``) returns the row plus both ids."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: list[int | tuple[int, int]]) -> list[dict[str, Any]]:
        pairs = [key if isinstance(key, tuple) else (int(key), -1) for key in keys]
        indices = [index for index, _ in pairs]
        rows = self._rows(indices)
        return [
            {**row, INDEX_COLUMN: index, GROUP_COLUMN: group} for row, (index, group) in zip(rows, pairs, strict=True)
        ]

    def _rows(self, indices: list[int]) -> list[dict[str, Any]]:
        # One columnar read for the whole batch: per-row reads from Arrow cost several times more.
        if hasattr(self.dataset, "column_names"):
            batch = self.dataset[indices]
            return [{column: values[i] for column, values in batch.items()} for i in range(len(indices))]
        return [self.dataset[i] for i in indices]
