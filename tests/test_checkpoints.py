"""Checkpoints carry the seed categories; resuming is exact; bad checkpoints and bad input are refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import make_domain_dataset, tiny_config, tiny_model

from hf_seedcat import SeedCatTrainer
from hf_seedcat.state import SeedCategoryState

ROOT = Path(__file__).resolve().parents[1]

# A run_dg.py equivalent that kills itself with SIGKILL right after the checkpoint at a given step.
KILLER = """
import os, signal, sys
from transformers import TrainerCallback
from hf_seedcat.cli.train import parse_arguments
from hf_seedcat.experiment import run_experiment

class KillAfterCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == int(os.environ["KILL_AT_STEP"]):
            os.kill(os.getpid(), signal.SIGKILL)

run_experiment(*parse_arguments(sys.argv[1:]), callbacks=[KillAfterCheckpoint()])
"""


def _run_dg(argv, env=None, script=None):
    command = [sys.executable, "-c", script] if script else [sys.executable, str(ROOT / "scripts" / "run_dg.py")]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(command + argv, capture_output=True, text=True, timeout=900, env=environment)


@pytest.mark.slow
def test_kill_after_checkpoint_and_resume_equals_uninterrupted_run(tmp_path, mnist_digits):
    argv = ["--max_digits", "600", "--per_device_train_batch_size", "32", "--max_steps", "8", "--save_steps", "4"]
    argv += ["--regroup_steps", "4"]
    argv += ["--checkpoint_freq", "2", "--use_cpu", "--disable_tqdm", "true", "--save_total_limit", "3"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"

    assert _run_dg(argv + ["--output_dir", str(whole)]).returncode == 0
    first = _run_dg(argv + ["--output_dir", str(killed)], env={"KILL_AT_STEP": "4"}, script=KILLER)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert sorted(os.listdir(killed / "checkpoint-4")) and not (killed / "checkpoint-8").exists()
    resumed = _run_dg(argv + ["--output_dir", str(killed)])  # finds checkpoint-4 and resumes from it
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming from" in resumed.stderr

    def accuracies(folder):
        lines = [json.loads(line) for line in open(folder / "results.jsonl")]
        return [{k: v for k, v in line.items() if k.endswith("_acc") or k == "step"} for line in lines]

    assert [line["step"] for line in accuracies(killed)] == [2, 4, 6, 8]
    assert accuracies(killed) == accuracies(whole)
    end_whole = SeedCategoryState.load(str(whole / "checkpoint-8"), 0)
    end_killed = SeedCategoryState.load(str(killed / "checkpoint-8"), 0)
    assert end_killed.q == end_whole.q and end_killed.group_ids == end_whole.group_ids
    assert end_killed.last_regroup_step == 4  # the regroup at step 8 is skipped: training is over
    assert torch.equal(
        torch.load(killed / "checkpoint-8" / "optimizer.pt")["state"][0]["exp_avg"],
        torch.load(whole / "checkpoint-8" / "optimizer.pt")["state"][0]["exp_avg"],
    )


@pytest.mark.slow
@pytest.mark.xdist_group("two_processes")  # each job wants both cores: under -n 2 they run one after another
@pytest.mark.parametrize("source", ["pass", "memory"])
def test_two_processes_hold_identical_groups_and_q(tmp_path, mnist_digits, source):
    # torchrun, run from this interpreter so it works without the venv on PATH
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        str(ROOT / "scripts" / "run_dg.py"),
    ]
    command += ["--dataset", "ColoredMNIST", "--algorithm", "seedcat", "--test_envs", "2", "--max_steps", "12"]
    command += ["--regroup_steps", "5", "--save_steps", "12", "--max_digits", "600", "--checkpoint_freq", "6"]
    command += ["--use_cpu", "--disable_tqdm", "true", "--output_dir", str(tmp_path), "--regroup_source", source]
    command += ["--eval_splits", "selection"]  # the test reads no accuracy: evaluate only what selection needs
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
        # Two processes on CPU under gloo; a visible GPU is hidden (two processes cannot share one under NCCL).
        env={**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    states = [json.load(open(tmp_path / "checkpoint-12" / f"seedcat_state_{i}.json")) for i in range(2)]
    assert states[0]["q"] == states[1]["q"] and states[0]["group_ids"] == states[1]["group_ids"]
    assert states[0]["last_regroup_step"] == 10 and states[0]["sampler"]["num_replicas"] == 2
    assert states[0]["q"] != [0.125] * 8  # q moved since the regroup at step 10
    # DomainBed's global batch (64 per training environment) split over the two processes
    (line,) = [json.loads(line) for line in open(tmp_path / "results.jsonl") if '"step": 12' in line]
    assert line["hparams"]["batch_size"] == 64
    if source == "memory":  # each process remembers its own batches; the regroup merged them first
        assert all((tmp_path / "checkpoint-12" / f"seedcat_memory_{i}.safetensors").exists() for i in range(2))


def _trained_checkpoint(tmp_path, dataset, **overrides):
    config = tiny_config(tmp_path, max_steps=4, save_strategy="steps", save_steps=4, **overrides)
    trainer = SeedCatTrainer(model=tiny_model(), args=config, train_dataset=dataset)
    trainer.train()
    return str(tmp_path / "checkpoint-4")


def test_checkpoint_holds_state_and_resume_restores_it(tmp_path):
    dataset = make_domain_dataset({"a": 40, "b": 24})
    checkpoint = _trained_checkpoint(tmp_path, dataset)
    assert not (tmp_path / ".staging").exists()
    saved = SeedCategoryState.load(checkpoint, 0)
    assert len(saved.group_ids) == 64 and len(saved.q) == 4 and saved.last_regroup_step == 3
    trainer = SeedCatTrainer(
        model=tiny_model(), args=tiny_config(tmp_path / "again", max_steps=4), train_dataset=dataset
    )
    trainer.restore_seed_categories(checkpoint)
    assert (
        trainer.seed_categories.group_ids.tolist() == saved.group_ids
        and trainer.seed_categories.weights.q.tolist() == saved.q
    )


def test_checkpoint_from_other_data_or_group_count_is_refused(tmp_path):
    dataset = make_domain_dataset({"a": 40, "b": 24})
    checkpoint = _trained_checkpoint(tmp_path, dataset)
    other = make_domain_dataset({"a": 40, "b": 24}, seed=1)
    trainer = SeedCatTrainer(model=tiny_model(), args=tiny_config(tmp_path / "x"), train_dataset=other)
    with pytest.raises(ValueError, match="was made on another training set"):
        trainer.restore_seed_categories(checkpoint)
    trainer = SeedCatTrainer(
        model=tiny_model(), args=tiny_config(tmp_path / "y", groups_per_domain=4), train_dataset=dataset
    )
    with pytest.raises(ValueError, match="groups_per_unit=2 but this run uses groups_per_unit=4"):
        trainer.restore_seed_categories(checkpoint)


def test_process_copies_that_disagree_are_refused(tmp_path):
    dataset = make_domain_dataset({"a": 40, "b": 24})
    checkpoint = _trained_checkpoint(tmp_path, dataset)
    state = SeedCategoryState.load(checkpoint, 0)
    state.q = [0.7, 0.1, 0.1, 0.1]
    state.save(checkpoint, 1)
    trainer = SeedCatTrainer(model=tiny_model(), args=tiny_config(tmp_path / "x"), train_dataset=dataset)
    with pytest.raises(ValueError, match="disagree between processes"):
        trainer.restore_seed_categories(checkpoint)


def test_a_failed_save_leaves_no_checkpoint_folder(tmp_path, monkeypatch):
    dataset = make_domain_dataset({"a": 40, "b": 24})

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(SeedCatTrainer, "_save_optimizer_and_scheduler", disk_full)
    config = tiny_config(tmp_path, max_steps=4, save_strategy="steps", save_steps=2)
    with pytest.raises(OSError, match="No space left"):
        SeedCatTrainer(model=tiny_model(), args=config, train_dataset=dataset).train()
    assert not any(name.startswith("checkpoint-") for name in os.listdir(tmp_path))


def test_unwritable_output_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="output directory .*a_file/out' cannot be written"):
        SeedCatTrainer(
            model=tiny_model(), args=tiny_config(blocker / "out"), train_dataset=make_domain_dataset({"a": 8})
        )


def test_a_corrupt_sample_names_itself(tmp_path):
    dataset = make_domain_dataset({"a": 20, "b": 20}).with_format(None)

    def decode(batch):
        if 13 in batch["index"]:
            raise ValueError("image file is truncated")
        return {
            "pixel_values": torch.tensor(batch["pixel_values"]),
            "labels": torch.tensor(batch["labels"]),
            "domain": torch.tensor(batch["domain"]),
        }

    dataset = dataset.add_column("index", list(range(40)))
    dataset.set_transform(decode)
    config = tiny_config(tmp_path, algorithm="erm", max_steps=20, remove_unused_columns=False)
    trainer = SeedCatTrainer(model=tiny_model(), args=config, train_dataset=dataset)
    with pytest.raises(RuntimeError, match=r"Sample\(s\) \[13\] of the dataset could not be read.*truncated"):
        trainer.train()
