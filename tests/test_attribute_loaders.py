"""Attribute columns through every loader: TextFolder, ImageFolder (and DomainBed's presets) and hub: datasets
keep the columns named in ``attribute_columns`` as int64 ids in every split, and the model never sees them."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
from helpers import save_tiny_text_model, tiny_config
from PIL import Image

from hf_seedcat import SeedCatTrainer
from hf_seedcat.data_scripts import load_domain_dataset
from hf_seedcat.data_scripts.demo_folders import make_image_folder, make_text_folder
from hf_seedcat.modalities import build_model_and_inputs


def _all_rows(data, column):
    """``column`` over every in and out split, as one numpy array, with the ClassLabel of each split."""
    splits = [*data.in_splits, *data.out_splits]
    features = {repr(split.features[column]) for split in splits}
    assert len(features) == 1, features  # one encoding everywhere
    values = np.concatenate([np.asarray(split.with_format(None)[column]) for split in splits])
    return values, splits[0].features[column]


def _text_folder_with_metadata(root, source_values=("web", "print")):
    """make_text_folder's three CSVs plus a string ``source`` and a boolean ``edited`` column, and an unnamed
    ``note`` column that must be dropped."""
    folder = make_text_folder(root, ["airline", "blog", "imdb"], rows=10)
    for d, path in enumerate(sorted(folder.glob("*.csv"))):
        lines = path.read_text().splitlines()
        out = [lines[0] + ",source,edited,note"]
        for i, line in enumerate(lines[1:]):
            source = source_values[(i + d) % len(source_values)]
            out.append(f"{line},{source},{'True' if i % 3 == 0 else 'False'},x{i}")
        path.write_text("\n".join(out) + "\n")
    return folder


# ------------------------------------------------------------------------------------------------ TextFolder


def test_text_folder_keeps_named_columns_as_ids_in_every_split(tmp_path):
    folder = _text_folder_with_metadata(tmp_path / "csv")
    data = load_domain_dataset("TextFolder", data_dir=str(folder), attribute_columns=["source", "edited"])
    assert data.attribute_columns == ["source", "edited"]
    for split in [*data.in_splits, *data.out_splits]:
        assert set(split.column_names) == {"text", "labels", "domain", "source", "edited"}  # "note" dropped
        assert split.features["source"].dtype == "int64"
    source, feature = _all_rows(data, "source")
    assert feature == datasets.ClassLabel(names=["print", "web"]) and set(source.tolist()) == {0, 1}
    edited, feature = _all_rows(data, "edited")
    assert feature.names == ["False", "True"] and edited.sum() == 4 * 3  # rows 0, 3, 6, 9 of each file
    plain = load_domain_dataset("TextFolder", data_dir=str(folder))
    assert set(plain.in_splits[0].column_names) == {"text", "labels", "domain"} and plain.attribute_columns == []
    # the rows are the ones without attributes, in the same order
    assert data.in_splits[1]["text"] == plain.in_splits[1]["text"]


def test_text_folder_names_a_missing_column_and_rejects_an_attribute_that_never_varies(tmp_path):
    folder = _text_folder_with_metadata(tmp_path / "csv")
    with pytest.raises(ValueError, match=r"names \['sorce'\].*its columns are \[.*'source', 'edited', 'note'\]"):
        load_domain_dataset("TextFolder", data_dir=str(folder), attribute_columns=["sorce"])
    constant = _text_folder_with_metadata(tmp_path / "constant", source_values=("web",))
    with pytest.raises(ValueError, match=r"'source' takes one value \(web\).*defines no groups"):
        load_domain_dataset("TextFolder", data_dir=str(constant), attribute_columns=["source"])
    with pytest.raises(ValueError, match=r"--attribute_columns names \['domain'\], which the loader writes"):
        load_domain_dataset("TextFolder", data_dir=str(folder), attribute_columns=["domain"])


def test_a_row_without_an_attribute_value_is_named(tmp_path):
    folder = _text_folder_with_metadata(tmp_path / "csv")
    path = folder / "blog.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(",web,", ",,").replace(",print,", ",,")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"column 'source' has no value in 1 row"):
        load_domain_dataset("TextFolder", data_dir=str(folder), attribute_columns=["source"])


def test_mnist_builders_keep_their_attributes_and_name_a_wrong_one(mnist_digits):
    data = load_domain_dataset("RotatedMNIST", digits=mnist_digits, max_digits=600, attribute_columns=["angle"])
    assert data.attribute_columns == ["angle", "digit"]  # every attribute is kept, named or not
    with pytest.raises(ValueError, match=r"names \['colour'\].*ColoredMNIST keeps no other attributes"):
        load_domain_dataset("ColoredMNIST", attribute_columns=["colour"])  # fails before loading any digit


# ----------------------------------------------------------------------------------------------- ImageFolder


def _metadata_csv(root, column="background", values=("land", "water")):
    """``root/metadata.csv``: every image's path relative to root and an attribute that alternates."""
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    rows = ["file_name," + column] + [f"{p},{values[i % len(values)]}" for i, p in enumerate(paths)]
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return {p: values[i % len(values)] for i, p in enumerate(paths)}


def test_image_folder_reads_attributes_from_metadata_csv(tmp_path):
    root = make_image_folder(tmp_path / "data", ["art", "photo", "sketch"], ["cat", "dog"], per_class=4)
    expected = _metadata_csv(root)
    data = load_domain_dataset("ImageFolder", data_dir=str(root), attribute_columns=["background"])
    names = ["land", "water"]
    for split in [*data.in_splits, *data.out_splits]:
        assert split.features["background"] == datasets.ClassLabel(names=names)
        for row in split.with_format(None):
            relative = "/".join(row["image"]["path"].split("/")[-3:])
            assert names[row["background"]] == expected[relative]
    plain = load_domain_dataset("ImageFolder", data_dir=str(root))
    assert "background" not in plain.in_splits[0].column_names
    assert [s["image"] for s in plain.in_splits] == [s["image"] for s in data.in_splits]  # same split


def test_image_folder_metadata_errors_name_the_file_and_the_fix(tmp_path):
    root = make_image_folder(tmp_path / "data", ["art", "photo"], ["cat", "dog"], per_class=2)
    with pytest.raises(FileNotFoundError, match=r"metadata.csv, which does not exist.*'file_name'"):
        load_domain_dataset("ImageFolder", data_dir=str(root), attribute_columns=["background"])
    _metadata_csv(root)
    with pytest.raises(ValueError, match=r"names \['place'\].*its columns are \['file_name', 'background'\]"):
        load_domain_dataset("ImageFolder", data_dir=str(root), attribute_columns=["place"])
    lines = (root / "metadata.csv").read_text().splitlines()
    (root / "metadata.csv").write_text("\n".join(lines[:-1]) + "\n")  # the last image loses its row
    with pytest.raises(ValueError, match=r"1 image\(s\) have no row.*photo/dog/1.png"):
        load_domain_dataset("ImageFolder", data_dir=str(root), attribute_columns=["background"])


def test_domainbed_presets_read_the_same_metadata(tmp_path):
    root = make_image_folder(tmp_path / "VLCS", ["Caltech101", "LabelMe", "SUN09", "VOC2007"], ["bird"], per_class=2)
    (root / "VOC2007" / "car").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(root / "VOC2007" / "car" / "0.png")
    _metadata_csv(root, column="indoor", values=(0, 1))
    data = load_domain_dataset("VLCS", data_dir=str(tmp_path), attribute_columns=["indoor"])
    ids, feature = _all_rows(data, "indoor")
    assert feature.names == ["0", "1"] and sorted(set(ids.tolist())) == [0, 1]


# --------------------------------------------------------------------------------------------------- hub:


def _hub_rows(n=24):
    return {
        "sentence": [f"row {i}" for i in range(n)],
        "label": [i % 2 for i in range(n)],
        "site": ["north", "south", "east"] * (n // 3),
        "age": [[30, 40, 50, 60][i % 4] for i in range(n)],
        "spam": [i % 5 == 0 for i in range(n)],
    }


@pytest.mark.parametrize("kind", ["csv", "json", "parquet"])
def test_hub_local_files_keep_named_attributes(tmp_path, kind):
    folder = tmp_path / kind
    folder.mkdir()
    table = datasets.Dataset.from_dict(_hub_rows())
    getattr(table, f"to_{kind}")(str(folder / f"train.{kind}"))
    data = load_domain_dataset(
        f"hub:{folder}", domain_column="site", text_column="sentence", attribute_columns=["age", "spam"]
    )
    assert data.environments == ["east", "north", "south"] and data.attribute_columns == ["age", "spam"]
    for split in [*data.in_splits, *data.out_splits]:
        assert set(split.column_names) == {"text", "labels", "domain", "age", "spam"}
    age, feature = _all_rows(data, "age")
    assert feature.names == ["30", "40", "50", "60"] and sorted(set(age.tolist())) == [0, 1, 2, 3]
    spam, feature = _all_rows(data, "spam")
    assert feature.names == ["False", "True"] and spam.sum() == 5  # rows 0, 5, 10, 15, 20
    with pytest.raises(ValueError, match=r"names \['agee'\].*its columns are \['sentence', 'label', 'site'"):
        load_domain_dataset(f"hub:{folder}", domain_column="site", text_column="sentence", attribute_columns=["agee"])


def test_hub_class_label_attribute_keeps_its_own_ids(tmp_path):
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.Value("int64"),
            "domain": datasets.Value("string"),
            "place": datasets.ClassLabel(names=["water", "land"]),  # ids not in sorted order: kept as they are
        }
    )
    rows = {"text": ["a"] * 8, "label": [0, 1] * 4, "domain": ["x", "y"] * 4, "place": [0, 0, 1, 1] * 2}
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(tmp_path / "d" / "train.parquet"))
    data = load_domain_dataset(f"hub:{tmp_path / 'd'}", attribute_columns=["place"], holdout_fraction=0.0)
    assert data.in_splits[0].features["place"].names == ["water", "land"]
    assert sorted(data.in_splits[0].with_format(None)["place"]) == [0, 0, 1, 1]  # domain x's rows: 0, 2, 4, 6


def test_hub_imagefolder_with_metadata_csv(tmp_path):
    folder = tmp_path / "imgs" / "train"
    folder.mkdir(parents=True)
    rows = ["file_name,label,camera,night"]
    for i in range(8):
        Image.fromarray(np.full((8, 8, 3), 30 * i, dtype=np.uint8)).save(folder / f"{i}.png")
        rows.append(f"{i}.png,{i % 2},{'ab'[i % 2]},{i < 3}")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    data = load_domain_dataset(f"hub:{tmp_path / 'imgs'}", domain_column="camera", attribute_columns=["night"])
    assert data.modality == "image" and data.environments == ["a", "b"]
    night, feature = _all_rows(data, "night")
    assert feature.names == ["False", "True"] and night.sum() == 3
    built = build_model_and_inputs(data, backbone="resnet18", image_size=16)
    row = built.data.training_dataset([1])[0]
    assert row["pixel_values"].shape == (3, 16, 16) and "night" in row and "image" not in row


# ------------------------------------------------------------------------------------- never the model's


def test_a_named_attribute_column_never_reaches_the_model(tmp_path):
    folder = _text_folder_with_metadata(tmp_path / "csv")
    data = load_domain_dataset("TextFolder", data_dir=str(folder), attribute_columns=["source"])
    words = ["the", "was", ",", "airline", "blog", "imdb", "awful", "bad", "terrible", "great", "good", "lovely"]
    words += [str(digit) for digit in range(10)]
    built = build_model_and_inputs(data, model_name_or_path=str(save_tiny_text_model(tmp_path / "bert", words)))
    seen: list[set[str]] = []
    built.model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(set(kwargs)), with_kwargs=True)
    train = built.data.training_dataset([2])
    assert "source" in train[:2]  # the column is in every batch the trainer reads ...
    config = tiny_config(tmp_path / "run", attribute_columns=["source"], eval_strategy="steps", eval_steps=3)
    trainer = SeedCatTrainer(
        model=built.model,
        args=config,
        train_dataset=train,
        scoring_dataset=built.data.training_dataset([2], augment=False),
        eval_dataset=built.data.evaluation_datasets(["env2_in"]),
        data_collator=built.data_collator,
        processing_class=built.processing_class,
    )
    trainer.train()
    assert seen and all(keys <= {"input_ids", "attention_mask", "token_type_ids"} for keys in seen), seen
    assert torch.isfinite(torch.tensor(trainer.evaluate()["eval_env2_in_loss"]))  # ... and not the model's input
