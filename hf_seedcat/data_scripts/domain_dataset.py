"""The multi-domain container every dataset builds, and DomainBed's in/out split.

Environments are `datasets.Dataset`s with a `domain` column, so the Trainer, the groupers and the
evaluation read one format, and DomainBed's numbers stay comparable because the split is DomainBed's own.
A dataset published as train / validation / test splits (Waterbirds, CelebA, CivilComments, MultiNLI) is the
same container with one environment and a held-out test split (`DomainDataset.split_based`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import torch
import xxhash
from datasets.table import InMemoryTable

from .checksum import PROVENANCE_KEYS, dataset_provenance, rows_checksum

SPLITS = ("in", "out")
#: The evaluation names of a split-based dataset's splits: train on the first, select on the second, report the third.
SPLIT_NAMES = ("train", "validation", "test")


@dataclass
class DomainDataset:
    """A multi-domain dataset split like DomainBed: per environment an 'in' (train), 'out' (holdout) split.

    Every split has `labels` and `domain` (one ClassLabel of environment names) and the model's inputs:
    `pixel_values` ready in memory (MNIST), or raw columns (image paths, text) that `train_transform` and
    `eval_transform` turn into inputs lazily, batch by batch, in the DataLoader's workers. The columns named
    in `attribute_columns` are ground truth kept beside the inputs (int64 ids), for evaluation groups only.

    A split-based dataset (`test_split` set) was published as train / validation / test splits: its
    environments' in-splits are the train split (one environment, "all", unless a builder says otherwise),
    their out-splits the validation split, and `test_split` the test split, which never trains nor selects.
    Its evaluation splits are named "train", "validation" and "test" instead of DomainBed's "env0_in", ....

    `provenance` says where the rows came from (`checksum.PROVENANCE_KEYS`: "dataset_id", "revision",
    "data_dir", "rows_checksum"); a builder that says nothing gets its name and a checksum over its splits.
    """

    name: str
    environments: list[str]
    num_classes: int
    input_shape: tuple[int, ...]
    in_splits: list[datasets.Dataset]
    out_splits: list[datasets.Dataset]
    checkpoint_freq: int = 100  # DomainBed's CHECKPOINT_FREQ for the dataset
    modality: str = "image"  # "image" or "text": which kind of model the experiment builds
    class_names: list[str] | None = None
    train_transform: Callable[[dict], dict] | None = None  # applied to the training dataset's batches
    eval_transform: Callable[[dict], dict] | None = None  # applied to every evaluation split's batches
    attribute_columns: list[str] = field(default_factory=list)  # ground-truth columns every split holds
    test_split: datasets.Dataset | None = None  # a split-based dataset's test split (see the class docstring)
    provenance: dict[str, Any] = field(default_factory=dict)  # checksum.dataset_provenance's keys

    @property
    def split_based(self) -> bool:
        """Published as train / validation / test splits: evaluate on "validation" and "test" by name."""
        return self.test_split is not None

    def with_transforms(
        self, train_transform: Callable[[dict], dict], eval_transform: Callable[[dict], dict]
    ) -> DomainDataset:
        """A copy whose training data goes through `train_transform` (augmentation) and evaluation through
        `eval_transform`; the splits themselves are shared, not copied."""
        return dataclasses.replace(self, train_transform=train_transform, eval_transform=eval_transform)

    def __post_init__(self) -> None:
        n = len(self.environments)
        if len(self.in_splits) != n or len(self.out_splits) != n:
            raise ValueError(
                f"{self.name}: {n} environments but {len(self.in_splits)} in-splits "
                f"and {len(self.out_splits)} out-splits"
            )
        missing = [key for key in PROVENANCE_KEYS if key not in self.provenance]
        if missing:  # a builder that said nothing: its name, and the rows as it built them
            defaults = dataset_provenance(self.name)
            if "rows_checksum" in missing:
                defaults["rows_checksum"] = rows_checksum(self._environment_splits(with_test=True))
            self.provenance = {**defaults, **self.provenance}

    def _environment_splits(self, with_test: bool = False) -> dict[str, datasets.Dataset]:
        """`{"env0_in": ..., "env0_out": ..., ...}` (and `"test"`), without transforms."""
        named = {
            f"env{i}_{kind}": split
            for i, pair in enumerate(zip(self.in_splits, self.out_splits, strict=True))
            for kind, split in zip(SPLITS, pair, strict=True)
        }
        if with_test and self.test_split is not None:
            named["test"] = self.test_split
        return named

    def training_dataset(self, test_envs: Sequence[int], augment: bool = True) -> datasets.Dataset:
        """The in-splits of every environment not in `test_envs`, concatenated (DomainBed's training data);
        for a split-based dataset, `test_envs` must be empty and this is its train split.

        `augment=False` gives the same rows through `eval_transform`: what a regroup pass should score.
        """
        n = len(self.environments)
        test_envs = list(test_envs)
        if self.split_based and test_envs:
            raise ValueError(
                f"{self.name} comes as train / validation / test splits: its test split is held out already, so "
                f"no environment can be; pass test_envs=[] (--test_envs with no value), not {test_envs}."
            )
        bad = [e for e in test_envs if not isinstance(e, int | np.integer) or not 0 <= e < n]
        if bad:
            raise ValueError(
                f"{self.name}: test_envs {bad} are not environment indices 0..{n - 1} {self.environments}"
            )
        duplicates = sorted({e for e in test_envs if test_envs.count(e) > 1})
        if duplicates:
            raise ValueError(f"{self.name}: test_envs lists {duplicates} more than once")
        train_envs = [i for i in range(n) if i not in test_envs]
        if not train_envs:
            raise ValueError(f"{self.name}: test_envs {test_envs} leave no environment to train on")
        parts = [self.in_splits[i] for i in train_envs]
        train = _concatenate(parts)
        transform = self.train_transform if augment else self.eval_transform
        if transform is not None:
            return train.with_transform(transform)
        return train.with_format(**_format_kwargs(parts[0]))

    def evaluation_datasets(self, splits: Sequence[str] | None = None) -> dict[str, datasets.Dataset]:
        """`{"env0_in": ..., "env0_out": ..., ...}` in environment order; `splits` keeps only those names.

        A split-based dataset's are `{"train": ..., "validation": ..., "test": ...}` (each environment's
        in-splits, out-splits, and the test split).
        """
        if self.split_based:
            all_splits = {
                "train": _concatenate(self.in_splits),
                "validation": _concatenate(self.out_splits),
                "test": self.test_split,
            }
        else:
            all_splits = self._environment_splits()
        if self.eval_transform is not None:
            all_splits = {name: split.with_transform(self.eval_transform) for name, split in all_splits.items()}
        if splits is None:
            return all_splits
        unknown = [s for s in splits if s not in all_splits]
        if unknown:
            raise ValueError(f"{self.name}: unknown evaluation splits {unknown}; known: {list(all_splits)}")
        return {name: split for name, split in all_splits.items() if name in splits}


def _concatenate(parts: Sequence[datasets.Dataset]) -> datasets.Dataset:
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(list(parts))


def seed_hash(*args: Any) -> int:
    """DomainBed's `misc.seed_hash`: a seed derived from any arguments, stable across runs and machines."""
    return int(hashlib.md5(str(args).encode("utf-8")).hexdigest(), 16) % (2**31)


def split_keys(n: int, holdout_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices `(in_keys, out_keys)` exactly as DomainBed's `misc.split_dataset` draws them."""
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    keys = list(range(n))
    np.random.RandomState(seed).shuffle(keys)
    n_out = int(n * holdout_fraction)
    return np.asarray(keys[n_out:], dtype=np.int64), np.asarray(keys[:n_out], dtype=np.int64)


def split_in_out(
    dataset: datasets.Dataset, holdout_fraction: float = 0.2, seed: int = 0
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """`(in_split, out_split)` of `dataset`, DomainBed's split; both are contiguous in-memory copies.

    DomainBed calls it with `seed=seed_hash(trial_seed, env_index)`.
    """
    in_keys, out_keys = split_keys(len(dataset), holdout_fraction, seed)
    tag = f"{holdout_fraction}-{seed}"
    return _take(dataset, in_keys, f"in-{tag}"), _take(dataset, out_keys, f"out-{tag}")


def environment_dataset(
    pixel_values: torch.Tensor,
    labels: torch.Tensor,
    env_index: int,
    environments: Sequence[str],
    attributes: dict[str, torch.Tensor] | None = None,
) -> datasets.Dataset:
    """One environment as an in-memory torch-formatted Dataset with `pixel_values`, `labels`, `domain`, and
    one int64 column per entry of `attributes` (ground truth for analysis; the trainer never trains on it).

    Built straight from Arrow buffers: `Dataset.from_dict` hashes and converts the whole array (~3 s per
    ColoredMNIST environment); this takes ~0.2 s.
    """
    x = pixel_values.detach().cpu().float().contiguous().numpy()
    y = np.ascontiguousarray(labels.detach().cpu().long().numpy())
    if x.ndim != 4 or len(x) != len(y):
        raise ValueError(f"expected pixel_values [n, c, h, w] and labels [n], got {x.shape} and {y.shape}")
    extra = {name: np.ascontiguousarray(v.detach().cpu().long().numpy()) for name, v in (attributes or {}).items()}
    for name, values in extra.items():
        if name in ("pixel_values", "labels", "domain") or values.shape != y.shape:
            raise ValueError(f"attribute column {name!r}: expected a new name and {len(y)} values, got {values.shape}")
    features = datasets.Features(
        {
            "pixel_values": datasets.Array3D(shape=tuple(x.shape[1:]), dtype="float32"),
            "labels": datasets.Value("int64"),
            "domain": datasets.ClassLabel(names=list(environments)),
            **{name: datasets.Value("int64") for name in extra},
        }
    )
    domain = np.full(len(y), env_index, dtype=np.int64)
    pixels = pa.ExtensionArray.from_storage(features["pixel_values"](), _nested_list_array(x))
    columns = {"pixel_values": pixels, "labels": pa.array(y), "domain": pa.array(domain)}
    columns.update({name: pa.array(values) for name, values in extra.items()})
    table = pa.table(columns, schema=features.arrow_schema)
    digest = xxhash.xxh64()
    for part in (repr(features).encode(), x, y, domain, *extra.values()):
        digest.update(part)
    dataset = datasets.Dataset(
        InMemoryTable(table), info=datasets.DatasetInfo(features=features), fingerprint=digest.hexdigest()
    )
    return dataset.with_format("torch")


def domain_dataset_from_environments(
    name: str,
    environments: Sequence[str],
    env_tensors: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    num_classes: int,
    trial_seed: int = 0,
    holdout_fraction: float = 0.2,
    checkpoint_freq: int = 100,
    attributes: Sequence[dict[str, torch.Tensor]] | None = None,
) -> DomainDataset:
    """Wrap per-environment `(pixel_values, labels)` tensors and split each in/out like DomainBed.

    Gives the rows `split_in_out(env_ds, holdout_fraction, seed_hash(trial_seed, env_i))` gives, but splits
    the tensors before building the Datasets, which is ~5x faster than gathering Arrow rows. `attributes`
    (one dict of per-sample tensors per environment) become extra columns, split with the same keys.
    The provenance's `rows_checksum` covers the tensors as given, before the split, so it does not change
    with `trial_seed`.
    """
    provenance = dataset_provenance(name, rows_checksum=tensors_checksum(environments, env_tensors, attributes))
    in_splits, out_splits = [], []
    for env_i, (x, y) in enumerate(env_tensors):
        in_keys, out_keys = split_keys(len(x), holdout_fraction, seed_hash(trial_seed, env_i))
        in_keys_t, out_keys_t = torch.from_numpy(in_keys), torch.from_numpy(out_keys)
        env_attributes = attributes[env_i] if attributes is not None else {}
        for split, keys in ((in_splits, in_keys_t), (out_splits, out_keys_t)):
            kept = {name: values[keys] for name, values in env_attributes.items()}
            split.append(environment_dataset(x[keys], y[keys], env_i, environments, kept))
    return DomainDataset(
        name=name,
        environments=list(environments),
        num_classes=num_classes,
        input_shape=tuple(env_tensors[0][0].shape[1:]),
        in_splits=in_splits,
        out_splits=out_splits,
        checkpoint_freq=checkpoint_freq,
        attribute_columns=list(attributes[0]) if attributes else [],
        provenance=provenance,
    )


def tensors_checksum(
    environments: Sequence[str],
    env_tensors: Sequence[tuple[torch.Tensor, torch.Tensor]],
    attributes: Sequence[dict[str, torch.Tensor]] | None = None,
) -> str:
    """A sha256 over per-environment tensors (name, shape, dtype, bytes), environment by environment."""
    digest = hashlib.sha256()
    for env_i, (name, (x, y)) in enumerate(zip(environments, env_tensors, strict=True)):
        named = {"pixel_values": x, "labels": y, **(attributes[env_i] if attributes else {})}
        for column in sorted(named):
            array = np.ascontiguousarray(named[column].detach().cpu().numpy())
            digest.update(f"{name}/{column}/{array.dtype.str}/{array.shape}:".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def domain_dataset_from_datasets(
    name: str,
    env_datasets: Sequence[datasets.Dataset],
    *,
    trial_seed: int = 0,
    holdout_fraction: float = 0.2,
    **fields: Any,
) -> DomainDataset:
    """Split each environment's `datasets.Dataset` in/out like DomainBed (`seed_hash(trial_seed, env_i)`).

    The environments' names are the `domain` ClassLabel's; `fields` fill the rest of `DomainDataset`. Without
    a `provenance` field, its checksum covers the environments as given, before the split.
    """
    if "provenance" not in fields:
        envs = {f"env{i}": env for i, env in enumerate(env_datasets)}
        fields["provenance"] = dataset_provenance(name, rows_checksum=rows_checksum(envs))
    pairs = [
        split_in_out(env, holdout_fraction, seed_hash(trial_seed, env_i)) for env_i, env in enumerate(env_datasets)
    ]
    return DomainDataset(
        name=name,
        environments=list(env_datasets[0].features["domain"].names),
        in_splits=[pair[0] for pair in pairs],
        out_splits=[pair[1] for pair in pairs],
        **fields,
    )


def _nested_list_array(x: np.ndarray) -> pa.Array:
    """Arrow's nested-list storage of Array3D without copying `x` (datasets' converter copies it twice)."""
    values: pa.Array = pa.array(x.reshape(-1))
    for size in reversed(x.shape[1:]):
        offsets = np.arange(0, len(values) + 1, size, dtype=np.int32)
        values = pa.ListArray.from_arrays(pa.array(offsets), values)
    return values


def _take(dataset: datasets.Dataset, keys: np.ndarray, tag: str) -> datasets.Dataset:
    # Not select(): its index mapping makes every read indirect, and flatten_indices() drops Array3D types.
    rows = pa.array(keys)
    if dataset._indices is not None:  # already a selection: map to rows of the underlying table
        rows = dataset._indices.column(0).take(rows)
    table = dataset.data.table.take(rows)
    fingerprint = xxhash.xxh64(f"{dataset._fingerprint}-{tag}".encode()).hexdigest()
    subset = datasets.Dataset(InMemoryTable(table), info=dataset.info.copy(), fingerprint=fingerprint)
    return subset.with_format(**_format_kwargs(dataset))


def _format_kwargs(dataset: datasets.Dataset) -> dict[str, Any]:
    fmt = dataset.format
    return {
        "type": fmt["type"],
        "columns": fmt["columns"],
        "output_all_columns": fmt["output_all_columns"],
        **fmt["format_kwargs"],
    }
