"""Where a dataset came from and which rows it held: the ``provenance`` every ``DomainDataset`` carries.

``results.jsonl`` and the model card record it, so a number can be traced to its data: a Hub id and revision
say where the rows were meant to come from, ``rows_checksum`` says which rows actually arrived (a Hub branch
moves; a local copy can be edited).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: The keys of ``DomainDataset.provenance``, in the order they are written.
PROVENANCE_KEYS = ("dataset_id", "revision", "data_dir", "rows_checksum")


def dataset_provenance(
    dataset_id: str,
    *,
    revision: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    rows_checksum: str | None = None,
) -> dict[str, Any]:
    """``{"dataset_id", "revision", "data_dir", "rows_checksum"}``.

    ``dataset_id``: the Hub id, the folder given to ``hub:``, or the registered name (``TextFolder``).
    ``revision``: the revision passed to ``datasets.load_dataset`` (None: the default branch when loaded),
    or ``"local"`` for data read from a folder. ``data_dir``: the local folder read, if any (a preset's local
    copy of its Hub dataset says here where it was).
    """
    return {
        "dataset_id": dataset_id,
        "revision": revision,
        "data_dir": None if data_dir is None else str(data_dir),
        "rows_checksum": rows_checksum,
    }


def rows_checksum(splits: Mapping[str, datasets.Dataset], *, root: str | os.PathLike[str] | None = None) -> str:
    """A sha256 over the rows of ``splits`` as loaded, before any transform or tokenization.

    Covers, split by split in sorted name order: the split's name and row count, every column's name and
    Arrow type (a ``ClassLabel``'s names too, since they give the ids their meaning) and every value, in row
    order, with which values are null. Values are read out of Arrow's buffers into a canonical byte form
    (fixed-width values as their bytes, strings as lengths then bytes, lists and structs through their
    children), so the digest depends on the rows only: not on how Arrow chunked the files, the process or
    the run, nor on schema metadata (the ``datasets`` version that wrote a file). Image paths under ``root``
    are hashed relative to it, so a copy moved elsewhere keeps its digest; an image kept as a path (a local
    image folder) is covered by its path, not its bytes.
    """
    digest = hashlib.sha256()
    for name in sorted(splits):
        dataset = splits[name]
        table = _canonical_table(dataset, root)
        header = {"split": name, "rows": table.num_rows, "columns": _column_types(dataset, table)}
        digest.update(json.dumps(header, sort_keys=True).encode())
        for column in table.columns:
            streams: dict[str, Any] = {}
            for chunk in column.chunks:
                _feed(streams, "", chunk)
            for key in sorted(streams):
                digest.update(f"{key}:".encode() + streams[key].digest())
    return digest.hexdigest()


def fingerprinted_by_rows(splits: Mapping[str, datasets.Dataset], checksum: str) -> dict[str, datasets.Dataset]:
    """The same splits (the same Arrow tables, nothing copied), each fingerprinted by ``checksum`` (their
    ``rows_checksum``) and its name, with no record of where they were read from.

    A resumed run compares its training set's fingerprint with the checkpoint's. ``load_dataset`` fingerprints a
    local folder by its files' paths and modification times, and a Hub dataset by its cache's path (and its
    ``DatasetInfo`` names the folder, which ``concatenate_datasets`` hashes in); a table built in memory from
    image paths is fingerprinted by those absolute paths. So a folder rewritten with the same rows, copied or
    moved, or a cache on another machine, made a checkpoint look "made on another training set". By the rows,
    the check refuses only other rows.
    """
    fingerprinted = {}
    for name, split in splits.items():
        if split._indices is not None:  # loaders return none; a selected view would need its indices kept
            raise ValueError(f"split {name!r} is an indexed view; pass the splits as they were loaded.")
        fingerprint = hashlib.sha256(f"{checksum}:{name}".encode()).hexdigest()[:16]
        info = datasets.DatasetInfo(features=split.features)
        fingerprinted[name] = datasets.Dataset(split.data, info=info, split=split.split, fingerprint=fingerprint)
    return fingerprinted


def _feed(streams: dict[str, Any], path: str, array: pa.Array) -> None:
    """Hash one array's values canonically (see ``rows_checksum``) into ``streams``: one sha256 per kind of
    bytes (validity, lengths, values) and nested child, each the concatenation of per-row bytes, so that
    feeding a column chunk by chunk gives what feeding it whole would."""

    def update(kind: str, data: Any) -> None:
        streams.setdefault(f"{path}/{kind}", hashlib.sha256()).update(data)

    kind = array.type
    if isinstance(kind, pa.ExtensionType):  # datasets' Array2D..5D: their plain storage
        array, kind = array.storage, kind.storage_type
    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
        kind = array.type
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    update("valid", valid.tobytes())
    if pa.types.is_struct(kind):
        for i, child in enumerate(array.flatten()):
            _feed(streams, f"{path}/{i}", child)
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        lengths = pc.list_value_length(array).fill_null(0).to_numpy(zero_copy_only=False).astype("<i8")
        update("lengths", lengths.tobytes())
        _feed(streams, f"{path}/values", array.flatten())
    elif kind in (pa.string(), pa.binary(), pa.large_string(), pa.large_binary()):
        filled = array.fill_null("" if kind in (pa.string(), pa.large_string()) else b"")
        buffers = filled.buffers()
        wide = kind in (pa.large_string(), pa.large_binary())
        count = filled.offset + len(filled) + 1
        offsets = np.frombuffer(buffers[1], dtype=np.int64 if wide else np.int32, count=count)[filled.offset :]
        update("lengths", np.diff(offsets).astype("<i8").tobytes())
        if buffers[2] is not None and len(filled):
            update("values", memoryview(buffers[2])[int(offsets[0]) : int(offsets[-1])])
    elif pa.types.is_boolean(kind):
        update("values", array.fill_null(False).to_numpy(zero_copy_only=False).tobytes())
    elif pa.types.is_null(kind):
        pass
    elif _byte_width(kind) and len(array.buffers()) == 2:  # ints, floats, dates, times, decimals
        width = _byte_width(kind)
        rows = np.zeros((len(array), width), dtype=np.uint8)
        values = array.buffers()[1]
        if values is not None and len(array):
            raw = np.frombuffer(values, dtype=np.uint8, count=(array.offset + len(array)) * width)
            rows[:] = raw[array.offset * width :].reshape(len(array), width)
        rows[~valid] = 0  # whatever lies under a null slot is not part of the row
        update("values", rows.tobytes())
    else:  # a type no loader writes: its Python values, row by row (slower, still canonical)
        for value in array.to_pylist():
            update("values", repr(value).encode() + b"\n")


def _byte_width(kind: pa.DataType) -> int:
    try:
        return kind.bit_width // 8 if kind.bit_width % 8 == 0 else 0
    except ValueError:  # not a fixed-width type
        return 0


def _canonical_table(dataset: datasets.Dataset, root: str | os.PathLike[str] | None) -> pa.Table:
    """The dataset's rows (its selection, if any), image paths made relative to ``root``."""
    table = dataset.data.table
    if dataset._indices is not None:
        table = table.take(dataset._indices.column(0))
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if root is not None and _holds_image_paths(dataset.features.get(name), column.type):
            column = _relative_paths(column, Path(root))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _column_types(dataset: datasets.Dataset, table: pa.Table) -> list[list[Any]]:
    described = []
    for field in table.schema:
        feature = dataset.features.get(field.name)
        names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
        described.append([field.name, str(field.type), names])
    return described


def _holds_image_paths(feature: Any, arrow_type: pa.DataType) -> bool:
    return (
        isinstance(feature, datasets.Image)
        and pa.types.is_struct(arrow_type)
        and arrow_type.get_field_index("path") >= 0
    )


def _relative_paths(column: pa.ChunkedArray, root: Path) -> pa.ChunkedArray:
    """An image column with every ``path`` under ``root`` (as given, or resolved) made relative to it."""
    prefixes = tuple(dict.fromkeys((str(root) + os.sep, str(root.resolve()) + os.sep)))
    chunks = []
    for chunk in column.chunks:
        index = chunk.type.get_field_index("path")
        paths = chunk.field(index)
        relative = [_relative(p, prefixes) for p in paths.to_pylist()]
        fields = [chunk.field(i) for i in range(chunk.type.num_fields)]
        fields[index] = pa.array(relative, type=paths.type)
        mask = pc.is_null(chunk) if chunk.null_count else None
        chunks.append(pa.StructArray.from_arrays(fields, fields=list(chunk.type), mask=mask))
    return pa.chunked_array(chunks, type=column.type)


def _relative(path: str | None, prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        if path is not None and path.startswith(prefix):
            return Path(path[len(prefix) :]).as_posix()
    return path
