"""One run (``seedcat-train``): DomainBed's protocol as DomainBedConfig, the defaults that fit the data, and
the run end to end on a small subset of the real ColoredMNIST, for each algorithm."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import make_domain_dataset, save_tiny_text_model, tiny_model
from transformers import HfArgumentParser

import hf_seedcat.modalities as modalities
from hf_seedcat import SeedCatConfig, SeedCatTrainer
from hf_seedcat.cli.train import parse_arguments
from hf_seedcat.data_scripts import load_domain_dataset
from hf_seedcat.data_scripts.demo_folders import make_image_folder, make_text_folder
from hf_seedcat.experiment import DomainGeneralizationArguments, accuracy_table, configure_for_data, run_experiment
from hf_seedcat.scoring import scoring_batch_size

ROOT = Path(__file__).resolve().parents[1]

# The reference: DomainBed's protocol as experiment.py prepended it to argv before DomainBedConfig declared it.
OLD_PROTOCOL_DEFAULTS = [
    "--max_steps", "5000",
    "--learning_rate", "1e-3",
    "--weight_decay", "0",
    "--optim", "adamw_torch",
    "--lr_scheduler_type", "constant",
    "--max_grad_norm", "0",
    "--per_device_eval_batch_size", "1024",
    "--save_steps", "1000",
    "--save_total_limit", "1",
    "--report_to", "none",
    "--ddp_find_unused_parameters", "false",
]  # fmt: skip


@pytest.fixture(scope="module")
def colored_mnist():
    return load_domain_dataset("ColoredMNIST", max_digits=600)


def resolved(argv, data):
    """``argv`` parsed, with the data's defaults filled in as ``run_experiment`` fills them."""
    dg_args, config = parse_arguments(argv)
    configure_for_data(dg_args, config, data)
    return dg_args, config


def test_no_arguments_is_configured_exactly_as_the_old_argv_patching_configured_it(colored_mnist):
    parser = HfArgumentParser((DomainGeneralizationArguments, SeedCatConfig))
    old_args, old = parser.parse_args_into_dataclasses(args=[*OLD_PROTOCOL_DEFAULTS, "--output_dir", "runs/old"])
    old.per_device_train_batch_size = 64 * 2  # what the old run set without --per_device_train_batch_size
    old.eval_strategy, old.eval_steps, old.logging_steps = "steps", 100, 100
    old.__post_init__()
    new_args, new = resolved([], colored_mnist)

    assert dataclasses.asdict(new_args) == dataclasses.asdict(old_args)
    compared = [
        f.name for f in dataclasses.fields(SeedCatConfig) if f.name not in ("output_dir", "scoring_batch_size")
    ]
    assert len(compared) > 100  # every TrainingArguments field, not a few
    differing = {name: (getattr(old, name), getattr(new, name)) for name in compared}
    assert {name: pair for name, pair in differing.items() if pair[0] != pair[1]} == {}
    assert scoring_batch_size(new) == scoring_batch_size(old) == 1024  # old: the evaluation batch
    assert (new.max_steps, new.learning_rate, new.weight_decay, new.max_grad_norm) == (5000, 1e-3, 0.0, 0.0)
    assert new.output_dir == str(Path("runs") / "ColoredMNIST_seedcat_test2_trial0_seed42")  # the seed it runs with


def test_a_given_flag_always_wins_over_the_datas_default(colored_mnist):
    argv = ["--learning_rate", "5e-4", "--weight_decay", "0.1", "--per_device_train_batch_size", "32"]
    _, config = resolved([*argv, "--per_device_eval_batch_size", "4096", "--max_steps", "7"], colored_mnist)
    assert (config.learning_rate, config.weight_decay, config.per_device_train_batch_size) == (5e-4, 0.1, 32)
    assert (config.per_device_eval_batch_size, config.max_steps) == (4096, 7)
    # the scoring pass keeps the data's batch however large the evaluation batch
    assert config.scoring_batch_size == 1024
    _, config = resolved(["--per_device_eval_batch_size", "100", "--scoring_batch_size", "8"], colored_mnist)
    assert (config.per_device_eval_batch_size, config.scoring_batch_size) == (100, 8)
    _, config = resolved(["--per_device_eval_batch_size", "100"], colored_mnist)
    assert config.scoring_batch_size == 100  # a smaller evaluation batch lowers it too
    _, config = resolved(["--learning_rate", "0", "--weight_decay", "0"], colored_mnist)
    assert (config.learning_rate, config.weight_decay) == (0.0, 0.0)  # given as 0 is given, not "unset"


def test_each_kind_of_data_gets_its_learning_rate_weight_decay_and_batches(tmp_path):
    images = make_image_folder(tmp_path / "images", ["art", "photo", "sketch"], ["cat", "dog"], per_class=3, size=8)
    text = make_text_folder(tmp_path / "text", ["airline", "blog", "imdb"], rows=12, text="text", label="label")
    image_data = load_domain_dataset("ImageFolder", data_dir=str(images))
    text_data = load_domain_dataset("TextFolder", data_dir=str(text))
    rotated = load_domain_dataset("RotatedMNIST", max_digits=600)

    _, config = resolved(["--dataset", "RotatedMNIST", "--test_envs", "0"], rotated)  # 5 training environments
    assert (config.learning_rate, config.weight_decay, config.per_device_train_batch_size) == (1e-3, 0.0, 5 * 64)
    assert config.per_device_eval_batch_size == config.scoring_batch_size == 1024
    # DomainBed's ResNet-50 defaults for images: 5e-5, 32 per environment; a 224x224 image gets a small batch
    _, config = resolved(["--dataset", "ImageFolder", "--test_envs", "0"], image_data)
    assert (config.learning_rate, config.weight_decay, config.per_device_train_batch_size) == (5e-5, 0.0, 2 * 32)
    assert config.per_device_eval_batch_size == config.scoring_batch_size == 64
    _, config = resolved(["--dataset", "ImageFolder", "--image_size", "32"], image_data)
    assert config.per_device_eval_batch_size == 1024  # small images again
    # fine-tuning a pretrained text encoder: BERT's and sentence-transformers' 2e-5 with weight decay 0.01
    _, config = resolved(["--dataset", "TextFolder"], text_data)
    assert (config.learning_rate, config.weight_decay, config.per_device_train_batch_size) == (2e-5, 0.01, 2 * 32)
    assert config.per_device_eval_batch_size == config.scoring_batch_size == 64


def test_max_length_defaults_to_what_the_model_and_tokenizer_take(tmp_path):
    assert modalities.text_max_length(None, 512, 512) == 256  # the sentence-level cap
    assert modalities.text_max_length(None, int(1e30), None) == 256  # a tokenizer's "no limit" sentinel
    assert modalities.text_max_length(None, 128, 512) == 128  # the tokenizer's own
    assert modalities.text_max_length(None, 512, 64) == 64  # never beyond the position embeddings
    assert modalities.text_max_length(300, 512, 512) == 300  # given: kept
    with pytest.raises(ValueError, match="exceeds the model's 512 position embeddings; pass --max_length 512"):
        modalities.text_max_length(1000, 512, 512)

    # a tiny BERT whose tokenizer sets no limit: the default truncates at its 24 position embeddings
    words = [f"w{i}" for i in range(40)]
    tiny = save_tiny_text_model(tmp_path / "tiny", words, max_position_embeddings=24)
    folder = make_text_folder(tmp_path / "text", ["a", "b", "c"], rows=6, text="text", label="label")
    data = load_domain_dataset("TextFolder", data_dir=str(folder))
    built = modalities.build_model_and_inputs(data, model_name_or_path=str(tiny))
    encoded = built.data.eval_transform({"text": [" ".join(words)], "label": [0]})
    assert len(encoded["input_ids"][0]) == 24
    with pytest.raises(ValueError, match="pass --max_length 24 or less"):
        modalities.build_model_and_inputs(data, model_name_or_path=str(tiny), max_length=64)


def test_the_scoring_pass_reads_its_own_batch_not_the_evaluation_batch(tmp_path):
    seen = []
    model = tiny_model()
    model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(len(kwargs["pixel_values"])), with_kwargs=True
    )
    data = make_domain_dataset({"a": 50, "b": 40}, shape=(2, 28, 28))
    settings = dict(per_device_train_batch_size=16, learning_rate=1e-3, report_to="none", use_cpu=True)
    config = SeedCatConfig(str(tmp_path), per_device_eval_batch_size=4096, scoring_batch_size=16, **settings)
    SeedCatTrainer(model=model, args=config, train_dataset=data).regroup(0)
    assert seen == [16] * 5 + [10]  # 90 rows: never the evaluation batch of 4096
    seen.clear()
    config = SeedCatConfig(str(tmp_path), per_device_eval_batch_size=32, **settings)  # default: the evaluation batch
    SeedCatTrainer(model=model, args=config, train_dataset=data).regroup(0)
    assert seen == [32, 32, 26]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["erm", "groupdro", "seedcat"])
def test_short_run_writes_results_and_trains_every_parameter(tmp_path, monkeypatch, mnist_digits, algorithm):
    created = {}

    def capture(*args, **kwargs):
        model = create(*args, **kwargs)
        created["model"], created["initial"] = model, copy.deepcopy(model.state_dict())
        return model

    create = modalities.create_image_classifier
    monkeypatch.setattr(modalities, "create_image_classifier", capture)
    argv = ["--algorithm", algorithm, "--max_digits", "1200", "--max_steps", "6", "--checkpoint_freq", "3"]
    argv += ["--regroup_steps", "3", "--output_dir", str(tmp_path), "--disable_tqdm", "true", "--use_cpu"]
    argv += ["--attribute_columns", "color_agrees", "--reference_step", "4"]
    summary = run_experiment(*parse_arguments(argv))

    lines = [json.loads(line) for line in open(tmp_path / "results.jsonl")]
    assert [line["step"] for line in lines] == [3, 6]
    # The label-free rule: nothing before its reference, then the reference is the first evaluation at step >= 4.
    assert "ref_quantile_acc" not in lines[0] and lines[1]["ref_step"] == 6
    assert 0.0 <= lines[1]["ref_quantile_acc"] <= 1.0 and lines[1]["ref_error_acc"] in (0.0, None)
    for line in lines:
        for env in range(3):
            assert 0.0 <= line[f"env{env}_in_acc"] <= 1.0 and 0.0 <= line[f"env{env}_out_acc"] <= 1.0
        assert line["args"]["algorithm"] == algorithm and line["hparams"]["batch_size"] == 128
        assert line["step_time"] > 0 and line["loss"] > 0
        for split in ("env0_in", "env1_out", "env2_in"):  # ground-truth groups: label x colour agreement
            assert 0.0 <= line[f"{split}_worst_group_acc"] <= line[f"{split}_group_mean_acc"] <= 1.0
            assert f"{split}_acc_group_y=1,color_agrees=0" in line
    composition = [json.loads(line) for line in open(tmp_path / "group_composition.jsonl")]
    assert [record["step"] for record in composition] == ([0, 3] if algorithm == "seedcat" else [0])
    trained = created["model"].state_dict()
    for name, initial in created["initial"].items():
        assert not torch.equal(initial, trained[name]), f"{name} did not change"
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "trainer_state.json").exists()
    table = accuracy_table(summary)
    assert "| last step | 6 |" in table and "(test)" in table


@pytest.mark.slow
def test_script_runs_from_the_command_line(tmp_path, mnist_digits):
    command = [sys.executable, str(ROOT / "scripts" / "run_dg.py"), "--dataset", "RotatedMNIST", "--test_envs", "0"]
    command += ["--max_digits", "1200", "--max_steps", "2", "--checkpoint_freq", "2", "--groups_per_domain", "2"]
    command += ["--per_device_train_batch_size", "20", "--eval_splits", "selection", "--use_cpu"]
    command += ["--output_dir", str(tmp_path), "--disable_tqdm", "true"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| training-domain validation | 2 |" in result.stdout
    (line,) = [json.loads(line) for line in open(tmp_path / "results.jsonl")]
    assert "env0_in_acc" in line and "env1_out_acc" in line and "env1_in_acc" not in line
