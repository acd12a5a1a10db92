"""Ground-truth attribute columns: which the built-in datasets keep, and the check that named ones exist.

Attributes (ColoredMNIST's colour agreement, RotatedMNIST's angle, Waterbirds' place, ...) are for evaluation
and the composition report only: they never train, and the trainer drops them before the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .colored_mnist import ATTRIBUTE_COLUMNS as COLORED_MNIST_ATTRIBUTES
from .rotated_mnist import ATTRIBUTE_COLUMNS as ROTATED_MNIST_ATTRIBUTES
from .worst_group_presets import ATTRIBUTE_COLUMNS as WORST_GROUP_ATTRIBUTES

#: Ground-truth columns the built-in datasets keep beside the inputs. They never train: the trainer drops
#: them before the model even when nobody names them (e.g. with ``remove_unused_columns=False``, or from a
#: dataset with a transform, whose raw columns all reach the batch).
KNOWN_ATTRIBUTE_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(COLORED_MNIST_ATTRIBUTES + ROTATED_MNIST_ATTRIBUTES + WORST_GROUP_ATTRIBUTES)
)


def check_attribute_columns(
    train_dataset: Any,
    eval_datasets: Any,
    attribute_columns: Sequence[str] | None,
    group_column: str | None = None,
) -> None:
    """A named attribute (or group) column must exist in every dataset that will be read for it.

    ``eval_datasets``: one dataset, a mapping of split name to dataset, or None. The group column is read
    from the training set only (it defines the training groups).
    """
    named = list(attribute_columns or [])
    to_check = {"training": train_dataset}
    if isinstance(eval_datasets, Mapping):
        to_check.update({f"evaluation ({k})": v for k, v in eval_datasets.items()})
    elif eval_datasets is not None:
        to_check["evaluation"] = eval_datasets
    for label, dataset in to_check.items():
        columns = getattr(dataset, "column_names", None)
        wanted = named + ([group_column] if group_column and label == "training" else [])
        if columns is None or not wanted:
            continue
        missing = [c for c in wanted if c not in columns]
        if missing:
            flag = "--group_column" if missing == [group_column] else "--attribute_columns"
            raise ValueError(
                f"{flag}: the {label} dataset has no column {', '.join(map(repr, missing))}; "
                f"its columns are {columns}."
            )
