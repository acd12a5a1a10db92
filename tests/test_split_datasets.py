"""Split-based datasets (train / validation / test, no domain column needed) and every dataset's provenance:
where its rows came from and a checksum of the rows as loaded."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from hf_seedcat.data_scripts import DomainDataset, load_domain_dataset
from hf_seedcat.data_scripts.checksum import PROVENANCE_KEYS
from hf_seedcat.data_scripts.demo_folders import make_image_folder, make_text_folder
from hf_seedcat.data_scripts.domain_dataset import domain_dataset_from_environments
from hf_seedcat.data_scripts.hub_dataset import domain_dataset_from_splits
from hf_seedcat.modalities import build_model_and_inputs

SIZES = {"train": 20, "validation": 8, "test": 12}


def _write_splits(folder: Path, domain: list[str] | None = None, sizes=SIZES, changed_row: int | None = None) -> Path:
    """Parquet splits in the Hub's layout (``data/<split>-00000-of-00001.parquet``): a PNG ``image``, a ClassLabel
    ``label``, a spurious ``place`` that agrees with the label in train and not elsewhere, and, if given, a
    ``domain`` column with those values in turn. ``changed_row`` flips one training label."""
    features = {"image": datasets.Image(), "label": datasets.ClassLabel(names=["landbird", "waterbird"])}
    features["place"] = datasets.ClassLabel(names=["land", "water"])
    if domain is not None:
        features["domain"] = datasets.Value("string")
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        labels = [i % 2 for i in range(n)]
        rows = {
            "image": [
                Image.fromarray(np.full((6, 6, 3), (9 * i + 3 * y) % 256, dtype=np.uint8))
                for i, y in enumerate(labels)
            ],
            "label": labels,
            "place": [y if split == "train" and i % 5 else 1 - y for i, y in enumerate(labels)],
        }
        if split == "train" and changed_row is not None:
            rows["label"][changed_row] = 1 - rows["label"][changed_row]
        if domain is not None:
            rows["domain"] = [domain[i % len(domain)] for i in range(n)]
        table = datasets.Dataset.from_dict(rows, features=datasets.Features(features))
        table.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    return folder


# --------------------------------------------------------------------------------------------- the layout


def test_train_validation_test_splits_without_a_domain_column(tmp_path):
    folder = _write_splits(tmp_path / "waterbirds")
    data = load_domain_dataset(f"hub:{folder}", attribute_columns=["place"])
    assert data.split_based and data.environments == ["all"] and data.modality == "image"
    assert data.class_names == ["landbird", "waterbird"] and data.attribute_columns == ["place"]
    assert [len(data.in_splits[0]), len(data.out_splits[0]), len(data.test_split)] == [20, 8, 12]
    train = data.training_dataset([])
    assert len(train) == 20 and set(train.column_names) == {"image", "labels", "domain", "place"}
    assert set(train.with_format(None)["domain"]) == {0} and train.features["domain"].names == ["all"]
    evaluation = data.evaluation_datasets(["validation", "test"])
    assert list(evaluation) == ["validation", "test"] and [len(s) for s in evaluation.values()] == [8, 12]
    assert list(data.evaluation_datasets()) == ["train", "validation", "test"]
    test_rows = evaluation["test"].with_format(None)
    assert test_rows["place"] == [1 - y for y in test_rows["labels"]]  # the attribute, with its own ids, kept
    assert test_rows.features["place"].names == ["land", "water"]
    with pytest.raises(ValueError, match=r"test split is held out already.*test_envs=\[\]"):
        data.training_dataset([0])
    with pytest.raises(ValueError, match=r"unknown evaluation splits \['env0_out'\]; known: \['train'"):
        data.evaluation_datasets(["env0_out"])

    built = build_model_and_inputs(data, backbone="resnet18", image_size=16)
    test = built.data.evaluation_datasets(["test"])["test"]
    assert test[0]["pixel_values"].shape == (3, 16, 16) and "image" not in test[0]
    assert len(built.data.training_dataset([], augment=False)) == 20


def test_a_one_valued_domain_column_now_loads_split_based(tmp_path):
    # the new user: a domain column with a single value, which the domain layout cannot use
    folder = _write_splits(tmp_path / "one", domain=["site_a"])
    data = load_domain_dataset(f"hub:{folder}", domain_column="domain")
    assert data.split_based and data.environments == ["all"] and len(data.training_dataset([])) == 20


def test_a_varying_domain_column_is_not_used_and_says_so(tmp_path, caplog):
    folder = _write_splits(tmp_path / "two", domain=["a", "b"])
    with caplog.at_level(logging.WARNING, logger="hf_seedcat.data_scripts.hub_dataset"):
        data = load_domain_dataset(f"hub:{folder}")
    assert data.environments == ["all"] and "not used to group training" in caplog.text
    assert data.test_split.features["domain"].names == ["all"]  # the loader's column, not the data's


def test_split_names_val_and_valid_are_the_validation_split():
    rows = {"text": ["a", "b", "c", "d"], "label": [0, 1, 0, 1], "topic": [0, 0, 1, 1]}
    table = datasets.Dataset.from_dict(rows)
    for name in ("val", "valid", "validation"):
        data = domain_dataset_from_splits(
            "demo", {"train": table, name: table, "test": table}, attribute_columns=["topic"]
        )
        assert data.split_based and len(data.out_splits[0]) == 4 and data.modality == "text"


def test_a_missing_split_is_named_with_the_splits_that_exist(tmp_path):
    folder = _write_splits(tmp_path / "two_splits", sizes={"train": 10, "test": 6})
    with pytest.raises(
        ValueError, match=r"Its splits are \['train', 'test'\]; the split-based layout lacks 'validation'"
    ):
        load_domain_dataset(f"hub:{folder}")
    with pytest.raises(ValueError, match=r"no train split; its splits are \['validation', 'test'\]"):
        table = datasets.Dataset.from_dict({"text": ["a"], "label": [0]})
        domain_dataset_from_splits("demo", {"validation": table, "test": table})


def test_a_one_valued_domain_column_without_splits_suggests_the_split_layout(tmp_path):
    rows = {"text": [f"r{i}" for i in range(10)], "label": [i % 2 for i in range(10)], "site": ["north"] * 10}
    datasets.Dataset.from_dict(rows).to_csv(str(tmp_path / "train.csv"))
    with pytest.raises(ValueError, match=r"'site' names 1 domain\(s\) \(north\).*give the data train, validation"):
        load_domain_dataset(f"hub:{tmp_path}", domain_column="site")


def test_the_domain_layout_still_reads_train_when_other_splits_are_incomplete(tmp_path):
    folder = _write_splits(tmp_path / "domains", domain=["a", "b"], sizes={"train": 20, "test": 6})
    data = load_domain_dataset(f"hub:{folder}", holdout_fraction=0.25)
    assert not data.split_based and data.environments == ["a", "b"]
    assert [len(s) for s in data.in_splits] == [8, 8] and data.evaluation_datasets(["env1_out"])


# ---------------------------------------------------------------------------------------------- provenance


def _provenance_in_a_new_process(dataset: str) -> str:
    code = "from hf_seedcat.data_scripts import load_domain_dataset\n"
    code += f"print(load_domain_dataset({dataset!r}).provenance['rows_checksum'])"
    root = Path(__file__).parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    return result.stdout.strip().splitlines()[-1]


def test_the_rows_checksum_is_stable_across_loads_and_processes_and_changes_with_a_row(tmp_path):
    folder = _write_splits(tmp_path / "a")
    data = load_domain_dataset(f"hub:{folder}")
    assert list(data.provenance) == list(PROVENANCE_KEYS)
    assert data.provenance["dataset_id"] == str(folder) and data.provenance["revision"] == "local"
    assert data.provenance["data_dir"] == str(folder) and len(data.provenance["rows_checksum"]) == 64
    checksum = data.provenance["rows_checksum"]
    assert load_domain_dataset(f"hub:{folder}").provenance["rows_checksum"] == checksum
    assert load_domain_dataset(f"hub:{folder}", attribute_columns=["place"]).provenance["rows_checksum"] == checksum
    assert _provenance_in_a_new_process(f"hub:{folder}") == checksum
    shutil.copytree(folder, tmp_path / "moved")
    assert load_domain_dataset(f"hub:{tmp_path / 'moved'}").provenance["rows_checksum"] == checksum
    changed = _write_splits(tmp_path / "b", changed_row=7)
    assert load_domain_dataset(f"hub:{changed}").provenance["rows_checksum"] != checksum


def test_every_loader_records_its_provenance(tmp_path):
    text = load_domain_dataset("TextFolder", data_dir=str(make_text_folder(tmp_path / "csv", ["a", "b"])))
    assert text.provenance["dataset_id"] == "TextFolder" and text.provenance["revision"] == "local"
    assert text.provenance["data_dir"] == str(tmp_path / "csv")
    assert (
        load_domain_dataset("TextFolder", data_dir=str(tmp_path / "csv"), trial_seed=3).provenance == text.provenance
    )

    images = make_image_folder(tmp_path / "img", ["art", "photo"], ["cat", "dog"], per_class=2)
    first = load_domain_dataset("ImageFolder", data_dir=str(images)).provenance
    shutil.copytree(images, tmp_path / "img_copy")  # rows hold paths: hashed relative to the folder
    assert (
        load_domain_dataset("ImageFolder", data_dir=str(tmp_path / "img_copy")).provenance["rows_checksum"]
        == (first["rows_checksum"])
    )

    generator = torch.Generator().manual_seed(0)
    envs = [(torch.rand(10, 1, 4, 4, generator=generator), torch.arange(10) % 2) for _ in range(2)]
    built = [domain_dataset_from_environments("Demo", ["e0", "e1"], envs, num_classes=2, trial_seed=s) for s in (0, 1)]
    assert not torch.equal(built[0].in_splits[0][:]["pixel_values"], built[1].in_splits[0][:]["pixel_values"])
    assert built[0].provenance == built[1].provenance  # the rows before the split: trial_seed changes nothing
    assert built[0].provenance["dataset_id"] == "Demo" and built[0].provenance["revision"] is None

    plain = DomainDataset("Direct", ["a"], 2, (), [built[0].in_splits[0]], [built[0].out_splits[0]])
    assert set(plain.provenance) == set(PROVENANCE_KEYS) and len(plain.provenance["rows_checksum"]) == 64
    transformed = plain.with_transforms(lambda b: b, lambda b: b)
    assert transformed.provenance == plain.provenance
