"""scripts/run_dg.py end to end on a small subset of the real ColoredMNIST, for each algorithm."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hf_seedcat.modalities as modalities
from hf_seedcat.experiment import accuracy_table, parse_arguments, run_experiment

ROOT = Path(__file__).resolve().parents[1]


def test_no_arguments_is_the_main_job_under_domainbeds_protocol():
    dg_args, config, batch_given = parse_arguments([])
    assert (dg_args.dataset, config.algorithm, dg_args.test_envs, config.max_steps) == (
        "ColoredMNIST",
        "seedcat",
        [2],
        5000,
    )
    assert config.learning_rate == 1e-3 and config.weight_decay == 0
    assert config.lr_scheduler_type == "constant" and config.max_grad_norm == 0
    assert not batch_given and config.output_dir.endswith("ColoredMNIST_seedcat_test2_trial0_seed0")
    _, config, batch_given = parse_arguments(["--per_device_train_batch_size", "32", "--learning_rate", "5e-5"])
    assert batch_given and config.per_device_train_batch_size == 32 and config.learning_rate == 5e-5


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
    argv = ["--algorithm", algorithm, "--max_digits", "3000", "--max_steps", "6", "--checkpoint_freq", "3"]
    argv += ["--regroup_steps", "3", "--output_dir", str(tmp_path), "--disable_tqdm", "true", "--use_cpu"]
    argv += ["--attribute_columns", "color_agrees"]
    summary = run_experiment(*parse_arguments(argv))

    lines = [json.loads(line) for line in open(tmp_path / "results.jsonl")]
    assert [line["step"] for line in lines] == [3, 6]
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
