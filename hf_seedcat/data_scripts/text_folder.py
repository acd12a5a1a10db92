"""Text domains from a folder of CSV files, one per domain (``--dataset TextFolder --data_dir DIR``).

Each file ``DIR/<domain>.csv`` holds a text column and a label column, and any other columns (metadata).
Domains are the file names in sorted order and classes the sorted label values, so indices do not depend on
the order rows arrive in. Columns named in ``attribute_columns`` are kept beside the text as int64 ids
(``columns.attribute_ids``, over all files together); the others are dropped. Text stays raw in the splits;
``tokenize_transform`` turns each batch into model inputs as it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd

from .checksum import dataset_provenance, rows_checksum
from .columns import TEXT_COLUMN, TEXT_PAIR_COLUMN, attribute_ids, check_attribute_names, require_attribute_columns
from .domain_dataset import DomainDataset, domain_dataset_from_datasets, seed_hash
from .registry import register_dataset


def read_domain_csvs(
    data_dir: str | Path, text_column: str, label_column: str, attribute_columns: Sequence[str] = ()
) -> dict[str, pd.DataFrame]:
    """``{domain: frame}`` for every ``*.csv`` in ``data_dir``, read as UTF-8 with bad bytes replaced; every
    file must hold the text, label and attribute columns."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"TextFolder: {folder} is not a folder; pass --data_dir DIR with one CSV per domain.")
    files = sorted(folder.glob("*.csv"))
    if len(files) < 2:
        raise ValueError(f"TextFolder: {folder} holds {len(files)} CSV file(s); one per domain, at least two.")
    frames = {}
    for path in files:
        frame = pd.read_csv(path, encoding="utf-8", encoding_errors="replace")
        missing = [c for c in (text_column, label_column) if c not in frame.columns]
        if missing:
            raise ValueError(
                f"TextFolder: {path} has no column {missing} (columns: {list(frame.columns)}); "
                "set --text_column and --label_column."
            )
        require_attribute_columns(
            f"TextFolder: {path}",
            frame.columns,
            attribute_columns,
            "Name one of those, or add the column to every CSV file",
        )
        if frame[label_column].isna().any():
            rows = frame.index[frame[label_column].isna()].tolist()[:10]
            raise ValueError(f"TextFolder: {path} has rows {rows} without a {label_column!r} value.")
        frames[path.stem] = frame
    return frames


@register_dataset("TextFolder", modality="text")
def text_folder(
    data_dir: str | None = None,
    trial_seed: int = 0,
    seed: int = 0,
    holdout_fraction: float = 0.2,
    text_column: str = "text",
    label_column: str = "label",
    max_per_domain: int | None = None,
    attribute_columns: Sequence[str] | None = None,
    **_: Any,
) -> DomainDataset:
    """One environment per CSV file, columns ``text``, ``labels`` (ClassLabel) and ``domain``, split like DomainBed,
    plus one int64 ClassLabel column per name in ``attribute_columns`` (ground truth, never trained on).

    ``max_per_domain`` keeps a fixed random sample of that many rows per file (the same in every trial),
    for runs that must be short.
    """
    if data_dir is None:
        raise ValueError("TextFolder needs --data_dir: a folder with one CSV file per domain.")
    attributes = check_attribute_names("TextFolder", attribute_columns or ())
    frames = read_domain_csvs(data_dir, text_column, label_column, attributes)
    if max_per_domain is not None:
        frames = {
            domain: frame.sample(min(max_per_domain, len(frame)), random_state=seed_hash("subsample", domain))
            for domain, frame in frames.items()
        }
    values = sorted({v for frame in frames.values() for v in frame[label_column].tolist()})
    class_names = [str(v) for v in values]
    class_index = {v: i for i, v in enumerate(values)}
    sizes = [len(frame) for frame in frames.values()]
    ends = np.cumsum(sizes)
    encoded = {}  # ids over every file at once, so one value has one id in every domain
    for column in attributes:
        every_row = [v for frame in frames.values() for v in frame[column].tolist()]
        names, ids = attribute_ids(every_row, column=column, source=f"TextFolder: {data_dir}")
        encoded[column] = (datasets.ClassLabel(names=names), np.split(ids, ends[:-1]))
    features = datasets.Features(
        {
            TEXT_COLUMN: datasets.Value("string"),
            "labels": datasets.ClassLabel(names=class_names),
            "domain": datasets.ClassLabel(names=list(frames)),
            **{column: feature for column, (feature, _) in encoded.items()},
        }
    )
    envs = []
    for env_i, frame in enumerate(frames.values()):
        data = {
            TEXT_COLUMN: frame[text_column].fillna("").astype(str).tolist(),
            "labels": [class_index[v] for v in frame[label_column].tolist()],
            "domain": [env_i] * len(frame),
            **{column: ids[env_i] for column, (_, ids) in encoded.items()},
        }
        envs.append(datasets.Dataset.from_dict(data, features=features))
    return domain_dataset_from_datasets(
        "TextFolder",
        envs,
        trial_seed=trial_seed,
        holdout_fraction=holdout_fraction,
        num_classes=len(class_names),
        input_shape=(),
        modality="text",
        class_names=class_names,
        attribute_columns=attributes,
        provenance=dataset_provenance(
            "TextFolder",
            revision="local",
            data_dir=data_dir,
            rows_checksum=rows_checksum({f"env{i}": env for i, env in enumerate(envs)}),
        ),
    )


def tokenize_transform(tokenizer: Any, max_length: int | None = None) -> Callable[[dict], dict]:
    """A batch transform: raw text -> the tokenizer's inputs (unpadded; ``DataCollatorWithPadding`` pads).

    A batch with a ``text_pair`` column (MultiNLI's hypothesis) is tokenized as sentence pairs, the way the
    model was pre-trained on them; longest-first truncation shortens whichever sentence is longer.
    """
    raw = (TEXT_COLUMN, TEXT_PAIR_COLUMN)

    def transform(batch: dict[str, list]) -> dict[str, list]:
        pair = batch.get(TEXT_PAIR_COLUMN)
        encoded = tokenizer(batch[TEXT_COLUMN], pair, truncation=True, max_length=max_length)
        return {**encoded, **{k: v for k, v in batch.items() if k not in raw}}

    return transform
