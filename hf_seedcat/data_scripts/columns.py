"""The columns every loader writes, and how a loader turns a column it reads into integer ids.

Loaders (TextFolder, ImageFolder, ``hub:``, the worst-group presets) keep the model's raw input under one
name (``image`` or ``text``, and ``text_pair`` for sentence pairs), the class as ``labels`` and the
environment as ``domain``. An attribute column the user names (``--attribute_columns``) is kept beside them
under its own name, as int64 ids with a ``ClassLabel`` that keeps the values' names: evaluation forms its
groups from label x attributes, and the trainer hides the column from the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np

IMAGE_COLUMN = "image"
TEXT_COLUMN = "text"
TEXT_PAIR_COLUMN = "text_pair"  # the second sentence of a pair (MultiNLI's hypothesis), tokenized with the first

#: Names a loader writes itself: an attribute column may not take one of them.
RESERVED_COLUMNS = ("labels", "domain", "pixel_values", IMAGE_COLUMN, TEXT_COLUMN, TEXT_PAIR_COLUMN)


def check_attribute_names(source: str, attribute_columns: Sequence[str]) -> list[str]:
    """The named attribute columns as a list; fail on a name a loader writes itself, or a repeated one."""
    named = list(attribute_columns or [])
    reserved = [c for c in named if c in RESERVED_COLUMNS]
    if reserved:
        raise ValueError(
            f"{source}: --attribute_columns names {reserved}, which the loader writes itself "
            f"({', '.join(RESERVED_COLUMNS)}); name the data's own attribute columns."
        )
    repeated = sorted({c for c in named if named.count(c) > 1})
    if repeated:
        raise ValueError(f"{source}: --attribute_columns names {repeated} more than once.")
    return named


def require_attribute_columns(source: str, columns: Sequence[str], attribute_columns: Sequence[str], fix: str) -> None:
    """Every named attribute column must be one of ``columns``; ``fix`` ends the error: what the user can do."""
    missing = [c for c in attribute_columns if c not in columns]
    if missing:
        raise ValueError(
            f"{source}: --attribute_columns names {missing}, but the data has no such column; its columns are "
            f"{list(columns)}. {fix}."
        )


def value_ids(values: Sequence[Any], feature: Any = None, *, column: str, source: str) -> tuple[list[str], np.ndarray]:
    """Names and per-row int64 ids of a column: a ``ClassLabel``'s own names and ids, else its distinct values
    in sorted order (so booleans become False = 0, True = 1, and ids do not depend on the order rows come in).

    A missing value (None or NaN, or a ClassLabel id outside its names) fails, naming the first rows that lack
    one: a row without a class or an attribute belongs to no group.
    """
    if isinstance(feature, datasets.ClassLabel):
        ids = np.asarray(values, dtype=np.int64)
        outside = np.flatnonzero((ids < 0) | (ids >= feature.num_classes))
        if len(outside):
            raise ValueError(
                f"{source}: column {column!r} has {len(outside)} row(s) with no class (ids outside "
                f"0..{feature.num_classes - 1}, e.g. -1 for 'no label'; the first: {outside[:10].tolist()}); "
                "drop those rows."
            )
        return list(feature.names), ids
    values = list(values)
    empty = [i for i, v in enumerate(values) if v is None or (isinstance(v, float) and math.isnan(v))]
    if empty:
        raise ValueError(
            f"{source}: column {column!r} has no value in {len(empty)} row(s) (the first: {empty[:10]}); "
            "fill them in or drop those rows."
        )
    distinct = set(values)
    try:
        ordered = sorted(distinct)
    except TypeError:  # mixed types (e.g. 1 and "1" from different files): a stable order all the same
        ordered = sorted(distinct, key=lambda v: (type(v).__name__, str(v)))
    index = {value: i for i, value in enumerate(ordered)}
    return [str(v) for v in ordered], np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))


def attribute_ids(
    values: Sequence[Any], feature: Any = None, *, column: str, source: str
) -> tuple[list[str], np.ndarray]:
    """``value_ids`` of an attribute column, which must take two values or more over the whole dataset."""
    names, ids = value_ids(values, feature, column=column, source=source)
    present = np.unique(ids)
    if len(present) < 2:
        only = names[int(present[0])] if len(present) else "none"
        raise ValueError(
            f"{source}: attribute column {column!r} takes one value ({only}) in all {len(ids)} rows; an attribute "
            "that never varies defines no groups. Drop it from --attribute_columns."
        )
    return names, ids
