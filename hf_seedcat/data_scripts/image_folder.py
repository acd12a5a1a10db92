"""Image domains from a folder in DomainBed's layout, ``ROOT/<domain>/<class>/<image>``.

``--dataset ImageFolder --data_dir ROOT`` takes any such folder; the presets (PACS, VLCS, OfficeHome,
TerraIncognita, DomainNet) also check that DomainBed's domains are all there. Domains and classes are
the sorted folder names and the files are listed in torchvision's ``ImageFolder`` order, so the in/out
splits are DomainBed's. The splits hold image paths; ``image_transform`` decodes and augments each batch
as the DataLoader's workers read it.

Attributes (``attribute_columns``) come from a metadata file at the root, beside the domain folders, in the
layout of Hugging Face's ``imagefolder``: ``ROOT/metadata.csv`` (or ``metadata.jsonl``, one JSON object a
line) with a ``file_name`` column, each image's path relative to ROOT with ``/`` separators
(``photo/dog/0001.jpg``), and one column per attribute. Every image needs a row; rows for other files are
ignored. The file is read only when attributes are named.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import timm.data
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN as IMAGENET_MEAN
from timm.data import IMAGENET_DEFAULT_STD as IMAGENET_STD
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

from .checksum import dataset_provenance, fingerprinted_by_rows, rows_checksum
from .columns import IMAGE_COLUMN, attribute_ids, check_attribute_names, require_attribute_columns
from .domain_dataset import DomainDataset, domain_dataset_from_datasets
from .registry import register_dataset

IMAGE_FOLDER_CHECKPOINT_FREQ = 300  # DomainBed's CHECKPOINT_FREQ for its image datasets (DomainNet's is 1000)
METADATA_FILES = ("metadata.csv", "metadata.jsonl")  # Hugging Face imagefolder's names, in the order looked for
FILE_NAME_COLUMN = "file_name"

# DomainBed's datasets: the folder its download script creates under --data_dir, the domains it
# expects (in its order, which is the sorted order), and its CHECKPOINT_FREQ.
PRESETS: dict[str, dict[str, Any]] = {
    "PACS": {"folder": "PACS", "domains": ["art_painting", "cartoon", "photo", "sketch"], "checkpoint_freq": 300},
    "VLCS": {"folder": "VLCS", "domains": ["Caltech101", "LabelMe", "SUN09", "VOC2007"], "checkpoint_freq": 300},
    "OfficeHome": {
        "folder": "office_home",
        "domains": ["Art", "Clipart", "Product", "Real World"],
        "checkpoint_freq": 300,
    },
    "TerraIncognita": {
        "folder": "terra_incognita",
        "domains": ["location_100", "location_38", "location_43", "location_46"],
        "checkpoint_freq": 300,
    },
    "DomainNet": {
        "folder": "domain_net",
        "domains": ["clipart", "infograph", "painting", "quickdraw", "real", "sketch"],
        "checkpoint_freq": 1000,
    },
}


def image_folder_dataset(
    root: str | Path,
    *,
    name: str = "ImageFolder",
    trial_seed: int = 0,
    holdout_fraction: float = 0.2,
    checkpoint_freq: int = IMAGE_FOLDER_CHECKPOINT_FREQ,
    expected_domains: list[str] | None = None,
    attribute_columns: Sequence[str] | None = None,
) -> DomainDataset:
    """Every sub-folder of ``root`` is a domain and its sub-folders are classes (their union, sorted);
    ``attribute_columns`` are read from ``root/metadata.csv`` (see the module's docstring)."""
    attributes = check_attribute_names(name, attribute_columns or ())
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{name}: {root} is not a folder; pass --data_dir with <domain>/<class>/<image>.")
    domains = sorted(entry.name for entry in root.iterdir() if entry.is_dir())
    if expected_domains is not None:
        missing = [d for d in expected_domains if d not in domains]
        if missing:
            raise FileNotFoundError(
                f"{name}: {root} lacks the domain folder(s) {missing}; {name} needs {expected_domains} "
                f"and found {domains}."
            )
        domains = list(expected_domains)
    if len(domains) < 2:
        raise ValueError(f"{name}: {root} has {len(domains)} domain folder(s) {domains}; at least two are needed.")
    classes = sorted({entry.name for d in domains for entry in (root / d).iterdir() if entry.is_dir()})
    if not classes:
        raise ValueError(f"{name}: the domain folders in {root} have no class folders (<domain>/<class>/<image>).")
    class_to_idx = {c: i for i, c in enumerate(classes)}
    per_domain = []
    for domain in domains:
        samples = make_dataset(str(root / domain), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
        if not samples:
            raise ValueError(f"{name}: the domain folder {root / domain} holds no images.")
        per_domain.append(samples)
    encoded = _encode_attributes(root, name, attributes, [path for samples in per_domain for path, _ in samples])
    ends = np.cumsum([len(samples) for samples in per_domain])[:-1]
    encoded = {column: (feature, np.split(ids, ends)) for column, (feature, ids) in encoded.items()}
    features = datasets.Features(
        {
            IMAGE_COLUMN: datasets.Image(decode=False),
            "labels": datasets.ClassLabel(names=classes),
            "domain": datasets.ClassLabel(names=domains),
            **{column: feature for column, (feature, _) in encoded.items()},
        }
    )
    envs = []
    for env_i, samples in enumerate(per_domain):
        data = {
            IMAGE_COLUMN: [{"path": path, "bytes": None} for path, _ in samples],
            "labels": [label for _, label in samples],
            "domain": [env_i] * len(samples),
            **{column: ids[env_i] for column, (_, ids) in encoded.items()},
        }
        envs.append(datasets.Dataset.from_dict(data, features=features))
    named = {f"env{i}": env for i, env in enumerate(envs)}
    checksum = rows_checksum(named, root=root)
    by_rows = fingerprinted_by_rows(named, checksum)  # not by where the folder lies
    return domain_dataset_from_datasets(
        name,
        list(by_rows.values()),
        trial_seed=trial_seed,
        holdout_fraction=holdout_fraction,
        num_classes=len(classes),
        input_shape=(3, 224, 224),
        checkpoint_freq=checkpoint_freq,
        class_names=classes,
        attribute_columns=attributes,
        provenance=dataset_provenance(
            name,
            revision="local",
            data_dir=root,
            rows_checksum=checksum,
        ),
    )


def read_image_metadata(root: Path, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """``root``'s metadata file, indexed by ``file_name`` (a path relative to ``root``), with ``columns``."""
    path = next((root / f for f in METADATA_FILES if (root / f).is_file()), None)
    if path is None:
        raise FileNotFoundError(
            f"{name}: --attribute_columns {list(columns)} are read from {root / METADATA_FILES[0]}, which does "
            f"not exist. Write it (or {METADATA_FILES[1]}) with a {FILE_NAME_COLUMN!r} column, each image's path "
            f"relative to {root} (e.g. <domain>/<class>/<image>), and one column per attribute."
        )
    if path.suffix == ".csv":
        frame = pd.read_csv(path, encoding="utf-8", dtype={FILE_NAME_COLUMN: str})
    else:
        frame = pd.read_json(path, lines=True, dtype={FILE_NAME_COLUMN: str})
    require_attribute_columns(
        f"{name}: {path}",
        frame.columns,
        [FILE_NAME_COLUMN, *columns],
        f"Name one of those, or add the column to {path.name}",
    )
    repeated = frame[FILE_NAME_COLUMN][frame[FILE_NAME_COLUMN].duplicated()].tolist()
    if repeated:
        raise ValueError(f"{name}: {path} lists {len(repeated)} file(s) twice or more, e.g. {repeated[:5]}.")
    return frame.set_index(FILE_NAME_COLUMN)


def _encode_attributes(
    root: Path, name: str, columns: Sequence[str], paths: Sequence[str]
) -> dict[str, tuple[datasets.ClassLabel, np.ndarray]]:
    """``{column: (ClassLabel, ids of every path in order)}`` from the metadata file; empty without columns."""
    if not columns:
        return {}
    metadata = read_image_metadata(root, name, columns)
    keys = [Path(p).relative_to(root).as_posix() for p in paths]
    missing = [k for k in keys if k not in metadata.index]
    if missing:
        raise ValueError(
            f"{name}: {len(missing)} image(s) have no row in {root}'s metadata file, e.g. {missing[:5]}; "
            f"its {FILE_NAME_COLUMN!r} must name every image by its path relative to {root}."
        )
    rows = metadata.loc[keys]
    encoded = {}
    for column in columns:
        names, ids = attribute_ids(rows[column].tolist(), column=column, source=f"{name}: {root}")
        encoded[column] = (datasets.ClassLabel(names=names), ids)
    return encoded


@register_dataset("ImageFolder", checkpoint_freq=IMAGE_FOLDER_CHECKPOINT_FREQ)
def image_folder(
    data_dir: str | None = None,
    trial_seed: int = 0,
    seed: int = 0,
    holdout_fraction: float = 0.2,
    attribute_columns: Sequence[str] | None = None,
    **_: Any,
) -> DomainDataset:
    if data_dir is None:
        raise ValueError("ImageFolder needs --data_dir: a folder laid out as <domain>/<class>/<image>.")
    return image_folder_dataset(
        data_dir, trial_seed=trial_seed, holdout_fraction=holdout_fraction, attribute_columns=attribute_columns
    )


def _register_preset(name: str, preset: dict[str, Any]) -> None:
    def build(
        data_dir: str | None = None,
        trial_seed: int = 0,
        seed: int = 0,
        holdout_fraction: float = 0.2,
        attribute_columns: Sequence[str] | None = None,
        **_: Any,
    ) -> DomainDataset:
        if data_dir is None:
            raise ValueError(f"{name} needs --data_dir: DomainBed's data folder or {name}'s own folder.")
        root = Path(data_dir)
        if (root / preset["folder"]).is_dir():  # DomainBed's --data_dir holds one folder per dataset
            root = root / preset["folder"]
        return image_folder_dataset(
            root,
            name=name,
            trial_seed=trial_seed,
            holdout_fraction=holdout_fraction,
            checkpoint_freq=preset["checkpoint_freq"],
            expected_domains=preset["domains"],
            attribute_columns=attribute_columns,
        )

    build.__doc__ = f"DomainBed's {name}: domains {preset['domains']} under DATA_DIR or DATA_DIR/{preset['folder']}."
    register_dataset(name, environments=preset["domains"], checkpoint_freq=preset["checkpoint_freq"])(build)


for _name, _preset in PRESETS.items():
    _register_preset(_name, _preset)


class UnreadableImageError(ValueError):
    """An image file could not be decoded; the message names it."""


def open_image(value: Any) -> Image.Image:
    """An RGB image from what an image column holds: ``{"path", "bytes"}`` (undecoded), a path, or a PIL image."""
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    path, data = (value.get("path"), value.get("bytes")) if isinstance(value, dict) else (value, None)
    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as image:
            return image.convert("RGB")
    except Exception as error:
        raise UnreadableImageError(f"Cannot read image {path or '<bytes>'}: {error}") from error


def image_transform(
    transform: Callable[[Image.Image], Any], image_column: str = IMAGE_COLUMN
) -> Callable[[dict], dict]:
    """A batch transform: decode every image, apply ``transform`` (a torchvision/timm pipeline) -> ``pixel_values``."""

    def apply(batch: dict[str, list]) -> dict[str, list]:
        pixels = [transform(open_image(value)) for value in batch[image_column]]
        return {"pixel_values": pixels, **{k: v for k, v in batch.items() if k != image_column}}

    return apply


def augmentation_transforms(
    image_size: int = 224, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD
) -> tuple[Callable[[Image.Image], Any], Callable[[Image.Image], Any]]:
    """``(train, eval)`` image pipelines from timm's factory, as DomainBed and the paper use them.

    Training: random resized crop (scale 0.7-1), horizontal flip, colour jitter 0.3 (with hue), random
    grayscale (p = 0.1), then normalisation. Evaluation: resize to ``image_size`` squared, normalise.
    """
    common = {"input_size": image_size, "interpolation": "bilinear", "mean": tuple(mean), "std": tuple(std)}
    train = timm.data.create_transform(
        is_training=True, scale=(0.7, 1.0), hflip=0.5, color_jitter=(0.3, 0.3, 0.3, 0.3), grayscale_prob=0.1, **common
    )
    evaluation = timm.data.create_transform(is_training=False, crop_pct=1.0, crop_mode="squash", **common)
    return train, evaluation
