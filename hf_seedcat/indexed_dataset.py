"""Carries each sample's position and seed category from the sampler to ``compute_loss``."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from .regroup import GROUP_COLUMN, INDEX_COLUMN
from .tensor_rows import TensorRows


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
