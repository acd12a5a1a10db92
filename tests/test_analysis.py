"""hf_seedcat.analysis: cluster consistency by hand, activation paths per stage, figures, the callback, the script."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_domain_dataset

from hf_seedcat import SeedCatConfig, SeedCatTrainer
from hf_seedcat.analysis import (
    PatternImbalanceCallback,
    StageNotFoundError,
    analyze_patterns,
    cct_markdown,
    cluster_consistency,
    cluster_consistency_table,
    collect_views,
    expected_random_consistency,
    find_stages,
    load_classifier,
    pattern_figures,
)
from hf_seedcat.models import create_image_classifier

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: str | Path) -> None:
    import matplotlib.image

    assert Path(path).read_bytes()[:8] == PNG_SIGNATURE
    assert matplotlib.image.imread(path).ndim == 3  # decodes as an image


@pytest.fixture(scope="module")
def images():
    return make_domain_dataset({"a": 60, "b": 60}, shape=(1, 28, 28))


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return create_image_classifier((1, 28, 28), 2)


# ---- cluster consistency ------------------------------------------------------------------------


def test_identical_and_relabelled_partitions_are_fully_consistent():
    a = np.array([0, 0, 1, 1, 2, 2, 2])
    assert cluster_consistency(a, a) == 1.0
    assert cluster_consistency(a, (a + 1) % 3) == 1.0


def test_consistency_matches_a_hand_count():
    # Pairs together in a: {0,1} {0,2} {1,2} {3,4}. Also together in b: {0,1} and {3,4}. 2 of 4.
    a = np.array([0, 0, 0, 1, 1])
    b = np.array([0, 0, 1, 1, 1])
    assert cluster_consistency(a, b) == pytest.approx(0.5)
    # Reversed: together in b: {0,1} {2,3} {2,4} {3,4}; also in a: {0,1} {3,4}. Also 2 of 4.
    assert cluster_consistency(b, a) == pytest.approx(0.5)
    # Singletons in a: no pair to condition on.
    assert np.isnan(cluster_consistency(np.arange(4), np.zeros(4)))


def test_random_partitions_sit_at_their_expected_value():
    rng = np.random.default_rng(0)
    k, n = 10, 4000
    uniform = [cluster_consistency(rng.integers(0, k, n), rng.integers(0, k, n)) for _ in range(5)]
    assert np.mean(uniform) == pytest.approx(1 / k, abs=0.01)
    # Unequal sizes raise chance: one cluster of 70% and nine small ones.
    b = np.concatenate([np.zeros(int(0.7 * n)), rng.integers(1, k, n - int(0.7 * n))]).astype(int)
    shuffled = [cluster_consistency(rng.integers(0, k, n), rng.permutation(b)) for _ in range(5)]
    assert np.mean(shuffled) == pytest.approx(expected_random_consistency(b), abs=0.01)
    assert expected_random_consistency(b) > 0.45


def test_table_finds_planted_patterns_and_beats_random(images, cnn):
    views = collect_views(cnn, images, batch_size=32)
    # Plant two patterns per class that every view agrees on.
    pattern = torch.arange(len(views.labels)) % 2
    views.features = views.features + pattern[:, None] * 100.0
    views.losses = pattern.float() * 5 + 0.01 * torch.rand(len(pattern))
    views.paths = views.paths + pattern[:, None] * 50
    table = cluster_consistency_table(views, [0, 1], n_clusters=2)
    for key in ("rep_path", "rep_loss", "path_loss"):
        assert table[key] == pytest.approx(1.0)
        assert table[f"ari_{key}"] == pytest.approx(1.0)
    assert 0.3 < table["random"] < 0.7  # two random halves: about 1/2
    assert set(table["per_class"]) == {"0", "1"}
    markdown = cct_markdown(table)
    assert "| Pair | Random | Rep-Path | Rep-Loss | Path-Loss |" in markdown and "1.000" in markdown


# ---- activation paths -------------------------------------------------------------------------


def test_mnist_cnn_path_has_one_entry_per_block_and_the_classifier(images, cnn):
    views = collect_views(cnn, images, batch_size=32)
    assert views.stage_names == ["block0", "block1", "block2", "block3", "classifier"]
    assert views.paths.shape == (len(images), 5)
    assert views.features.shape == (len(images), 128)
    assert views.losses.shape == (len(images),) and (views.losses >= 0).all()
    assert torch.equal(views.labels, images[:]["labels"])
    assert int(views.paths[:, 1].max()) < 128 and int(views.paths[:, -1].max()) < 2


def test_resnet_path_is_the_stem_four_stages_and_the_classifier():
    torch.manual_seed(0)
    model = create_image_classifier((3, 32, 32), 3, backbone="resnet18")
    data = make_domain_dataset({"a": 12}, shape=(3, 32, 32))
    views = collect_views(model, data, batch_size=8)
    assert views.stage_names == ["act1", "layer1", "layer2", "layer3", "layer4", "classifier"]
    assert views.paths.shape == (12, 6)
    assert views.features.shape == (12, 512)


def test_text_classifier_paths_follow_its_layers():
    import datasets
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=3
    )
    model = BertForSequenceClassification(config)
    generator = torch.Generator().manual_seed(0)
    text = datasets.Dataset.from_dict(
        {
            "input_ids": torch.randint(1, 50, (10, 7), generator=generator).tolist(),
            "attention_mask": [[1] * 7] * 10,
            "labels": [i % 3 for i in range(10)],
        }
    ).with_format("torch")
    views = collect_views(model, text, batch_size=4)
    assert views.stage_names == ["layer0", "layer1", "classifier"]
    assert views.paths.shape == (10, 3)
    assert views.features.shape == (10, 32)  # the pooled output the head reads
    assert int(views.paths[:, :2].max()) < 32


def test_a_model_without_stages_is_refused_with_a_clear_error():
    with pytest.raises(StageNotFoundError, match="Cannot find the stages of Sequential"):
        find_stages(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)))


# ---- figures, reports, loading ------------------------------------------------------------------


def test_figures_are_written_as_valid_pngs(tmp_path, images, cnn):
    views = collect_views(cnn, images, batch_size=32)
    paths = pattern_figures(views, [0, 1], str(tmp_path))
    assert [Path(p).name for p in paths] == ["tsne_representations.png", "tsne_activation_paths.png"]
    for path in paths:
        _assert_png(path)


def test_analyze_patterns_writes_the_table_and_figures_of_a_saved_model(tmp_path, images, cnn):
    cnn.save_pretrained(tmp_path / "model")
    model = load_classifier(str(tmp_path / "model"))
    table, _ = analyze_patterns(model, images, str(tmp_path / "out"), classes=[0, 1], n_clusters=4, max_per_class=25)
    written = json.loads((tmp_path / "out" / "cct.json").read_text())
    for key in ("random", "rep_path", "rep_loss", "path_loss"):
        assert 0.0 <= written[key] <= 1.0
        assert written[key] == pytest.approx(table[key])
    assert written["per_class"]["0"]["n_samples"] == 25
    assert "Rep-Path" in (tmp_path / "out" / "cct.md").read_text()
    for name in ("tsne_representations.png", "tsne_activation_paths.png"):
        _assert_png(tmp_path / "out" / name)


def test_callback_records_the_table_at_every_regroup(tmp_path):
    data = make_domain_dataset({"a": 48, "b": 48}, shape=(1, 28, 28))
    torch.manual_seed(0)
    model = create_image_classifier((1, 28, 28), 2)
    callback = PatternImbalanceCallback(data, classes=[0, 1], n_clusters=3, max_per_class=20)
    config = SeedCatConfig(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=16,
        regroup_steps=2,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
    )
    SeedCatTrainer(model=model, args=config, train_dataset=data, callbacks=[callback]).train()
    assert [record["step"] for record in callback.history] == [2, 4]
    lines = (tmp_path / "patterns.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [2, 4]
    assert all(0.0 <= callback.history[0][key] <= 1.0 for key in ("random", "rep_path", "rep_loss", "path_loss"))


@pytest.mark.slow
def test_script_trains_erm_then_writes_table_and_figures(tmp_path, mnist_digits, monkeypatch, capsys):
    from hf_seedcat.cli.patterns import analyze

    out = tmp_path / "patterns"
    argv = ["--dataset", "RotatedMNIST", "--test_envs", "0", "--train_steps", "3", "--max_digits", "600"]
    table = analyze(argv + ["--classes", "0", "1", "--n_clusters", "5", "--output_dir", str(out)])
    assert (out / "erm" / "model.safetensors").is_file()
    assert set(json.loads((out / "cct.json").read_text())) >= {"random", "rep_path", "rep_loss", "path_loss"}
    assert table["stages"] == ["block0", "block1", "block2", "block3", "classifier"]
    assert "Path-Loss" in capsys.readouterr().out
    for name in ("tsne_representations.png", "tsne_activation_paths.png"):
        _assert_png(out / name)
