"""ImageFolder and DomainBed's presets: columns, names, splits, augmentation, a corrupt image."""

from __future__ import annotations

import shutil

import pytest
import torch

from hf_seedcat.data_scripts import load_domain_dataset
from hf_seedcat.data_scripts.demo_folders import make_image_folder
from hf_seedcat.data_scripts.image_folder import (
    PRESETS,
    UnreadableImageError,
    augmentation_transforms,
    image_transform,
)
from hf_seedcat.modalities import build_model_and_inputs


@pytest.fixture
def folder(tmp_path):
    return make_image_folder(tmp_path / "data", ["sketch", "art", "photo"], ["dog", "cat"], per_class=5)


def test_domains_and_classes_are_sorted_names_with_domainbeds_split(folder):
    data = load_domain_dataset("ImageFolder", data_dir=str(folder))
    assert data.environments == ["art", "photo", "sketch"] and data.class_names == ["cat", "dog"]
    assert data.num_classes == 2 and data.modality == "image"
    train = data.training_dataset([1]).with_format(None)
    assert set(train.column_names) == {"image", "labels", "domain"}
    assert train.features["domain"].names == ["art", "photo", "sketch"]
    assert sorted(set(train["domain"])) == [0, 2]
    assert [len(s) for s in data.in_splits] == [8, 8, 8] and [len(s) for s in data.out_splits] == [2, 2, 2]
    for split in data.in_splits:  # each label is its class folder's
        for row in split.with_format(None):
            assert row["image"]["path"].split("/")[-2] == data.class_names[row["labels"]]
    again = load_domain_dataset("ImageFolder", data_dir=str(folder))
    assert again.in_splits[0]["image"] == data.in_splits[0]["image"]  # the split depends only on trial_seed
    other = load_domain_dataset("ImageFolder", data_dir=str(folder), trial_seed=1)
    assert other.in_splits[0]["image"] != data.in_splits[0]["image"]


def test_presets_check_domainbeds_domains_and_name_what_is_missing(tmp_path):
    root = make_image_folder(tmp_path / "PACS", ["art_painting", "cartoon", "photo"], ["dog"], per_class=2)
    with pytest.raises(FileNotFoundError, match=r"lacks the domain folder\(s\) \['sketch'\]"):
        load_domain_dataset("PACS", data_dir=str(root))
    make_image_folder(root, ["sketch"], ["dog"], per_class=2)
    assert load_domain_dataset("PACS", data_dir=str(tmp_path)).environments == PRESETS["PACS"]["domains"]
    assert set(PRESETS) == {"PACS", "VLCS", "OfficeHome", "TerraIncognita", "DomainNet"}


def test_a_moved_image_folder_keeps_its_training_fingerprint_and_a_renamed_image_changes_it(folder, tmp_path):
    # A resumed run refuses a checkpoint whose training-set fingerprint is not its own; the table holds absolute
    # image paths, which fingerprinted the folder's place rather than its rows.
    def fingerprint(root):
        return load_domain_dataset("ImageFolder", data_dir=str(root)).training_dataset([0])._fingerprint

    original = fingerprint(folder)
    moved = shutil.copytree(folder, tmp_path / "moved" / "data")
    assert fingerprint(moved) == original
    image = next((moved / "photo" / "dog").iterdir())
    image.rename(image.with_name("renamed" + image.suffix))
    assert fingerprint(moved) != original


def test_augmentation_is_the_papers_and_evaluation_has_none(folder):
    train, evaluation = augmentation_transforms(16)
    names = [type(t).__name__ for t in train.transforms]
    assert names[:4] == ["RandomResizedCropAndInterpolation", "RandomHorizontalFlip", "ColorJitter", "RandomGrayscale"]
    assert [type(t).__name__ for t in evaluation.transforms][0] == "Resize"
    data = load_domain_dataset("ImageFolder", data_dir=str(folder))
    data = data.with_transforms(image_transform(train), image_transform(evaluation))
    row = data.training_dataset([0])[0]
    assert row["pixel_values"].shape == (3, 16, 16) and set(row) == {"pixel_values", "labels", "domain"}
    split = data.evaluation_datasets(["env0_out"])["env0_out"]
    assert torch.equal(split[0]["pixel_values"], split[0]["pixel_values"])  # deterministic without augmentation


def test_a_corrupt_image_is_reported_by_its_path(folder):
    bad = folder / "photo" / "cat" / "1.png"
    bad.write_bytes(b"not a png")
    built = build_model_and_inputs(
        load_domain_dataset("ImageFolder", data_dir=str(folder)), backbone="resnet18", image_size=16
    )
    split = built.data.evaluation_datasets()
    with pytest.raises(UnreadableImageError, match=str(bad)):
        for name in split:
            split[name][:]


def test_missing_or_empty_folders_fail_with_a_sentence(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_domain_dataset("ImageFolder", data_dir=str(tmp_path / "nowhere"))
    (tmp_path / "only").mkdir()
    with pytest.raises(ValueError, match="at least two"):
        load_domain_dataset("ImageFolder", data_dir=str(tmp_path))
