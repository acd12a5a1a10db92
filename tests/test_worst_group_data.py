"""The worst-group presets (Waterbirds, CelebA, CivilComments, MultiNLI), each loaded from a tiny local copy in
its Hub format made here (a few rows per split, the card's column names and types): labels, groups,
splits, provenance, the schema check, and attributes that never reach the model."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
from helpers import save_tiny_text_model, tiny_config
from PIL import Image
from transformers import BertForSequenceClassification

from hf_seedcat import SeedCatTrainer
from hf_seedcat.data_scripts import DATASETS, KNOWN_ATTRIBUTE_COLUMNS, load_domain_dataset
from hf_seedcat.data_scripts.text_folder import tokenize_transform
from hf_seedcat.data_scripts.worst_group_presets import WORST_GROUP_PRESETS, has_negation
from hf_seedcat.modalities import build_model_and_inputs

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair Blond_Hair "
    "Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup High_Cheekbones "
    "Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline "
    "Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick "
    "Wearing_Necklace Wearing_Necktie Young"
).split()
IDENTITIES = ("male", "female", "LGBTQ", "christian", "muslim", "other_religions", "black", "white")


def _images(n: int, seed: int) -> list[Image.Image]:
    generator = np.random.default_rng(seed)
    return [Image.fromarray(generator.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in range(n)]


def _write_parquet(folder: Path, split: str, rows: dict, features: datasets.Features) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))


def waterbirds_copy(root: Path, sizes=(8, 4, 6), drop: str | None = None) -> Path:
    """grodino/waterbirds' layout: image, label (landbird/waterbird), place (land/water), bird (200 species)."""
    features = {
        "image": datasets.Image(),
        "label": datasets.ClassLabel(names=["landbird", "waterbird"]),
        "place": datasets.ClassLabel(names=["land", "water"]),
        "bird": datasets.ClassLabel(names=[f"species_{i:03d}" for i in range(200)]),
    }
    for split, n in zip(("train", "validation", "test"), sizes, strict=True):
        label = [i % 2 for i in range(n)]
        rows = {"image": _images(n, n), "label": label, "place": [(i // 2) % 2 for i in range(n)], "bird": label}
        kept = {k: v for k, v in features.items() if k != drop}
        _write_parquet(root / "data", split, {k: rows[k] for k in kept}, datasets.Features(kept))
    return root


def celeba_copy(root: Path, sizes=(8, 4, 4)) -> Path:
    """flwrlabs/celeba's img_align+identity+attr: image, celeb_id, 40 bool attributes; splits train/valid/test."""
    features = datasets.Features(
        {"image": datasets.Image(), "celeb_id": datasets.Value("int64")}
        | {name: datasets.Value("bool") for name in CELEBA_ATTRIBUTES}
    )
    for split, n in zip(("train", "valid", "test"), sizes, strict=True):
        rows = {"image": _images(n, 10 + n), "celeb_id": list(range(n))}
        rows |= {name: [(i + k) % 3 == 0 for i in range(n)] for k, name in enumerate(CELEBA_ATTRIBUTES)}
        rows["Blond_Hair"] = [i % 2 == 1 for i in range(n)]
        rows["Male"] = [i % 4 < 2 for i in range(n)]
        _write_parquet(root / "img_align+identity+attr", split, rows, features)
    return root


def civil_comments_copy(root: Path, drop: str | None = None) -> Path:
    """WILDS' all_data_with_identities.csv: a pandas index, comment_text, split (train/val/test), scores."""
    n = 18
    frame = pd.DataFrame(
        {
            "id": range(100, 100 + n),
            "comment_text": [f"comment {i}" for i in range(n)],
            "split": ["train"] * 8 + ["val"] * 4 + ["test"] * 6,
            "toxicity": [0.0, 0.2, 0.5, 0.9, 0.49, 0.7] * 3,
            "severe_toxicity": [0.0] * n,
            "identity_any": [0.0, 0.6, 0.3, 1.0, 0.5, 0.0] * 3,
        }
    )
    for k, name in enumerate(IDENTITIES):
        frame[name] = [0.8 if (i + k) % 4 == 0 else 0.1 for i in range(n)]
    frame.loc[3, "black"] = np.nan  # a missing score counts as absent, as in WILDS
    if drop is not None:
        frame = frame.drop(columns=drop)
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "all_data_with_identities.csv")
    return root


MULTINLI_HYPOTHESES = [
    "Nobody came.",  # negation
    "The cat sat.",
    "It was not there.",  # "not" is not on the list
    "No!",  # punctuation removed: "no"
    "They never left",
    "Nothing, really.",
    "Nowhere to be seen.",
    "Some know.",
]


def multinli_copy(root: Path, splits=("train", "validation_matched", "validation_mismatched")) -> Path:
    """nyu-mll/multi_nli's layout: premise, hypothesis, their parses, genre, label (3 classes)."""
    features = datasets.Features(
        {
            "promptID": datasets.Value("int32"),
            "pairID": datasets.Value("string"),
            "premise": datasets.Value("string"),
            "premise_binary_parse": datasets.Value("string"),
            "premise_parse": datasets.Value("string"),
            "hypothesis": datasets.Value("string"),
            "hypothesis_binary_parse": datasets.Value("string"),
            "hypothesis_parse": datasets.Value("string"),
            "genre": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        }
    )
    for split in splits:
        n = len(MULTINLI_HYPOTHESES)
        rows = {
            "promptID": list(range(n)),
            "pairID": [f"{i}e" for i in range(n)],
            "premise": [f"the story {i} was told" for i in range(n)],
            "hypothesis": MULTINLI_HYPOTHESES,
            "genre": ["fiction"] * n,
            "label": [i % 3 for i in range(n)],
        }
        rows |= {
            f"{side}_{kind}": rows[side] for side in ("premise", "hypothesis") for kind in ("binary_parse", "parse")
        }
        if split == "train":
            rows = {k: [*v, v[0]] for k, v in rows.items()}
            rows["label"][-1] = -1  # a pair without a gold label
        _write_parquet(root / "data", split, rows, features)
    return root


def _column(split: datasets.Dataset, column: str) -> list:
    return list(split.with_format(None)[column])


# ----------------------------------------------------------------------------------------------- presets


def test_the_four_presets_are_registered_split_based_with_their_groups():
    assert {name: DATASETS[name].group_attributes for name in WORST_GROUP_PRESETS} == {
        "Waterbirds": ("place",),
        "CelebA": ("Male",),
        "CivilComments": ("identity_any",),
        "MultiNLI": ("negation",),
    }
    assert all(DATASETS[name].split_based for name in WORST_GROUP_PRESETS)
    assert set(KNOWN_ATTRIBUTE_COLUMNS) >= {"place", "Male", "identity_any", "negation", *IDENTITIES}


def test_waterbirds_from_a_local_copy(tmp_path):
    copy = waterbirds_copy(tmp_path / "waterbirds")
    data = load_domain_dataset("Waterbirds", data_dir=str(copy))
    assert data.split_based and data.environments == ["all"] and data.modality == "image"
    assert data.class_names == ["landbird", "waterbird"] and data.attribute_columns == ["place"]
    assert [len(data.in_splits[0]), len(data.out_splits[0]), len(data.test_split)] == [8, 4, 6]
    test = data.evaluation_datasets(["test"])["test"]
    assert _column(test, "place") == [0, 0, 1, 1, 0, 0] and test.features["place"].names == ["land", "water"]
    assert set(test.column_names) == {"image", "labels", "domain", "place"}
    assert data.provenance == {
        "dataset_id": "grodino/waterbirds",
        "revision": "main",
        "data_dir": str(copy),
        "rows_checksum": data.provenance["rows_checksum"],
    }
    assert data.checkpoint_freq == 100


def test_celeba_blond_hair_by_male_and_another_named_attribute(tmp_path):
    copy = celeba_copy(tmp_path / "celeba")
    data = load_domain_dataset("CelebA", data_dir=str(copy), attribute_columns=["Eyeglasses"])
    assert data.class_names == ["not_blond", "blond"] and data.attribute_columns == ["Male", "Eyeglasses"]
    assert [len(data.in_splits[0]), len(data.out_splits[0]), len(data.test_split)] == [8, 4, 4]
    train = data.training_dataset([]).with_format(None)
    assert _column(train, "labels") == [i % 2 for i in range(8)]  # Blond_Hair
    assert _column(train, "Male") == [1, 1, 0, 0] * 2 and train.features["Male"].names == ["False", "True"]
    assert data.provenance["dataset_id"] == "flwrlabs/celeba"
    assert data.provenance["revision"] == "2d738f56e0e7f925ea36ae7c808ea925264aacec"


def test_civil_comments_binarizes_like_wilds(tmp_path):
    data = load_domain_dataset("CivilComments", data_dir=str(civil_comments_copy(tmp_path / "cc")))
    assert data.modality == "text" and data.class_names == ["non_toxic", "toxic"]
    assert data.attribute_columns == ["identity_any", *IDENTITIES]
    assert [len(data.in_splits[0]), len(data.out_splits[0]), len(data.test_split)] == [8, 4, 6]
    train = data.training_dataset([]).with_format(None)
    assert _column(train, "text") == [f"comment {i}" for i in range(8)]
    assert _column(train, "labels") == [0, 0, 1, 1, 0, 1, 0, 0]  # toxicity >= 0.5
    assert _column(train, "identity_any") == [0, 1, 0, 1, 1, 0, 0, 1]
    assert _column(train, "black")[3] == 0  # NaN: absent
    assert data.provenance["dataset_id"] == "shlomihod/civil-comments-wilds"


def test_multinli_negation_pairs_and_unlabelled_rows(tmp_path):
    data = load_domain_dataset("MultiNLI", data_dir=str(multinli_copy(tmp_path / "mnli")))
    assert data.class_names == ["entailment", "neutral", "contradiction"] and data.num_classes == 3
    assert len(data.in_splits[0]) == 8  # the pair labelled -1 is dropped
    test = data.evaluation_datasets(["test"])["test"].with_format(None)
    assert _column(test, "negation") == [1, 0, 0, 1, 1, 1, 0, 0]
    assert _column(test, "text_pair") == MULTINLI_HYPOTHESES and _column(test, "text")[0] == "the story 0 was told"
    assert set(test.column_names) == {"text", "text_pair", "labels", "domain", "negation"}


def test_has_negation_follows_group_dro():
    assert [has_negation(h) for h in MULTINLI_HYPOTHESES] == [True, False, False, True, True, True, False, False]
    assert has_negation("I have NO idea") and not has_negation("no-one") and not has_negation("")


# ---------------------------------------------------------------------------------------------- schema


def test_a_missing_column_or_split_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"no column \['place'\].*reads \['image', 'label', 'place'\].*grodino"):
        load_domain_dataset("Waterbirds", data_dir=str(waterbirds_copy(tmp_path / "wb", drop="place")))
    with pytest.raises(ValueError, match=r"no column \['identity_any'\].*civil-comments-wilds"):
        load_domain_dataset("CivilComments", data_dir=str(civil_comments_copy(tmp_path / "cc", drop="identity_any")))
    with pytest.raises(FileNotFoundError, match=r"no all_data_with_identities.csv"):
        load_domain_dataset("CivilComments", data_dir=str(tmp_path / "wb"))
    copy = multinli_copy(tmp_path / "mnli", splits=("train", "validation_matched"))
    with pytest.raises(ValueError, match=r"no split test \(validation_mismatched\); its splits are \['train', "):
        load_domain_dataset("MultiNLI", data_dir=str(copy))


# ------------------------------------------------------------------------------------------- the model


def _tiny_text_model(tmp_path: Path, num_labels: int = 2) -> str:
    words = ["the", "story", "was", "told", "came", "cat", "sat", "it", "not", "there", "no", "they", "never"]
    words += ["left", "nothing", "really", "nowhere", "to", "be", "seen", "some", "know", "nobody", "comment"]
    folder = save_tiny_text_model(tmp_path / "bert", [*words, *map(str, range(10))])
    if num_labels != 2:  # MultiNLI's three classes: a fresh classifier head, as a real checkpoint without one gets
        model = BertForSequenceClassification.from_pretrained(
            folder, num_labels=num_labels, ignore_mismatched_sizes=True
        )
        model.save_pretrained(folder)
    return str(folder)


def test_pairs_are_tokenized_as_pairs(tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(_tiny_text_model(tmp_path))
    batch = tokenize_transform(tokenizer)({"text": ["the cat sat"], "text_pair": ["nobody came"], "labels": [0]})
    assert batch["token_type_ids"][0] == [0] * 5 + [1] * 3 and batch["labels"] == [0]  # [CLS] a [SEP] b [SEP]
    assert "text" not in batch and "text_pair" not in batch


def test_a_preset_attribute_never_reaches_the_model_even_unnamed(tmp_path):
    data = load_domain_dataset("MultiNLI", data_dir=str(multinli_copy(tmp_path / "mnli")))
    built = build_model_and_inputs(data, model_name_or_path=_tiny_text_model(tmp_path, 3), max_length=16)
    seen: list[set[str]] = []
    built.model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(set(kwargs)), with_kwargs=True)
    train = built.data.training_dataset([])
    assert "negation" in train[:2]
    trainer = SeedCatTrainer(
        model=built.model,
        args=tiny_config(tmp_path / "run", per_device_train_batch_size=4, groups_per_domain=2),
        train_dataset=train,
        scoring_dataset=built.data.training_dataset([], augment=False),
        data_collator=built.data_collator,
        processing_class=built.processing_class,
    )
    trainer.train()
    metrics = trainer.evaluate(built.data.evaluation_datasets(["validation", "test"]))
    assert {"eval_validation_loss", "eval_test_loss"} <= set(metrics)
    assert seen and all(keys <= {"input_ids", "attention_mask", "token_type_ids"} for keys in seen), seen


@pytest.mark.slow
def test_a_preset_run_reads_its_papers_groups_and_records_where_its_rows_came_from(tmp_path):
    from hf_seedcat.cli.train import parse_arguments
    from hf_seedcat.experiment import run_experiment

    copy = multinli_copy(tmp_path / "mnli")
    argv = ["--dataset", "MultiNLI", "--data_dir", str(copy), "--model_name_or_path", _tiny_text_model(tmp_path, 3)]
    argv += ["--max_steps", "2", "--checkpoint_freq", "2", "--per_device_train_batch_size", "6", "--max_length", "16"]
    argv += ["--algorithm", "erm", "--disable_tqdm", "true", "--use_cpu", "--output_dir", str(tmp_path / "run")]
    run_experiment(*parse_arguments(argv))  # no --attribute_columns: the preset's (negation)
    (line,) = [json.loads(text) for text in open(tmp_path / "run" / "results.jsonl")]
    assert line["args"]["split_based"] and line["args"]["test_envs"] == []
    assert "validation_worst_group_acc" in line and "test_acc_group_y=0,negation=1" in line
    provenance = line["args"]["provenance"]
    assert provenance["dataset_id"] == "nyu-mll/multi_nli" and provenance["data_dir"] == str(copy)
    card = (tmp_path / "run" / "README.md").read_text()
    assert provenance["rows_checksum"] in card and "negation" in card and "validation worst-group" in card
