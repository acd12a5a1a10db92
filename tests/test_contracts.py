"""The Trainer's contracts (issue 17 step 3): exact gradient accumulation, one distributed job or a refusal,
best-model paths outside the staging folder, resume checks, the end-of-window q in the logs, and
non-blocking copies to the accelerator."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import make_domain_dataset, make_text_dataset, tiny_bert, tiny_config, tiny_model

from hf_seedcat import SeedCatTrainer
from hf_seedcat.indexed_dataset import GROUP_COLUMN, INDEX_COLUMN

ROOT = Path(__file__).resolve().parents[1]


class BatchRecorder(SeedCatTrainer):
    """Keeps every micro-batch that trained (a gradient was taken)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.micro_batches: list[dict[str, torch.Tensor]] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training and torch.is_grad_enabled():
            self.micro_batches.append({k: v.clone() for k, v in inputs.items()})
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


def _reference_step(model, micro_batches, num_groups: int, eta: float, lr: float):
    """One SGD step on the union of the micro-batches: q from uniform by the union's group means, then
    sum_g q_g * mean_g; returns the parameters after the step and q."""
    model = copy.deepcopy(model).train()
    hidden = {"labels", "domain", INDEX_COLUMN, GROUP_COLUMN}
    union = {k: torch.cat([b[k] for b in micro_batches]) for k in micro_batches[0]}
    logits = model(**{k: v for k, v in union.items() if k not in hidden}).logits
    per_sample = F.cross_entropy(logits.float(), union["labels"], reduction="none")
    groups = union[GROUP_COLUMN]
    sums = torch.zeros(num_groups).index_add(0, groups, per_sample)
    counts = torch.zeros(num_groups).index_add(0, groups, torch.ones_like(per_sample))
    means = sums / counts.clamp(min=1)
    q = torch.full((num_groups,), 1 / num_groups) * torch.exp(eta * means.detach())
    q = q / q.sum()
    (q * means).sum().backward()
    return {name: p.detach() - lr * p.grad for name, p in model.named_parameters()}, q


@pytest.mark.parametrize("kind", ["image", "text"])
def test_gradient_accumulation_equals_one_batch_k_times_larger_at_one_q(tmp_path, kind):
    if kind == "image":
        model, data = tiny_model(), make_domain_dataset({"a": 40, "b": 24, "c": 30})
    else:  # an HF text model: the Trainer passes num_items_in_batch and scales the loss its own way
        model, data = tiny_bert(), make_text_dataset({"a": 40, "b": 24, "c": 30})
    initial = copy.deepcopy(model)
    settings = dict(algorithm="groupdro", dro_eta=0.5, per_device_train_batch_size=6, max_steps=1)
    settings |= dict(gradient_accumulation_steps=3, optim="sgd", learning_rate=0.5, max_grad_norm=0.0)
    settings |= dict(lr_scheduler_type="constant", logging_steps=1)
    trainer = BatchRecorder(model=model, args=tiny_config(tmp_path, **settings), train_dataset=data)
    trainer.train()
    assert len(trainer.micro_batches) == 3
    expected, q = _reference_step(initial, trainer.micro_batches, num_groups=3, eta=0.5, lr=0.5)
    assert torch.allclose(trainer.seed_categories.weights.q, q, atol=1e-6)  # q moved once, from all three
    for name, param in trainer.model.named_parameters():
        assert torch.allclose(param.detach(), expected[name], atol=1e-6), name


def test_without_accumulation_there_is_no_extra_forward(tmp_path):
    data = make_domain_dataset({"a": 40, "b": 24, "c": 30})
    model = tiny_model()
    calls = []
    model.register_forward_hook(lambda module, args, output: calls.append(torch.is_grad_enabled()))
    trainer = SeedCatTrainer(
        model=model, args=tiny_config(tmp_path, algorithm="groupdro", max_steps=3), train_dataset=data
    )
    trainer.train()
    assert calls == [True, True, True]  # one forward per step, with gradients; no scoring pass for domains


def test_load_best_model_at_end_never_points_into_staging(tmp_path):
    data = make_domain_dataset({"a": 40, "b": 24, "c": 30})
    settings = dict(eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=2, max_steps=6)
    settings |= dict(load_best_model_at_end=True, metric_for_best_model="loss", save_total_limit=1)
    trainer = SeedCatTrainer(
        model=tiny_model(), args=tiny_config(tmp_path, **settings), train_dataset=data, eval_dataset=data
    )
    trainer.train()
    best = trainer.state.best_model_checkpoint
    assert best is not None and ".staging" not in best and os.path.isdir(best)
    for state_file in tmp_path.glob("checkpoint-*/trainer_state.json"):
        assert ".staging" not in (json.loads(state_file.read_text())["best_model_checkpoint"] or "")
    assert not (tmp_path / ".staging").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"dro_eta": 0.2}, "dro_eta"),
        ({"sampler": {"num_replicas": 2}}, "processes"),
        ({"sampler": {"scheme": "seedseq-v0"}}, "sampler"),
    ],
)
def test_resume_refuses_a_changed_eta_world_size_or_sampler_scheme(tmp_path, change, message):
    data = make_domain_dataset({"a": 40, "b": 24, "c": 30})
    args = tiny_config(tmp_path, max_steps=4, save_strategy="steps", save_steps=4, dro_eta=0.01)
    SeedCatTrainer(model=tiny_model(), args=args, train_dataset=data).train()
    checkpoint = tmp_path / "checkpoint-4"
    if "sampler" in change:
        path = checkpoint / "seedcat_state_0.json"
        state = json.loads(path.read_text())
        state["sampler"].update(change["sampler"])
        path.write_text(json.dumps(state))
        resumed_args = tiny_config(tmp_path, max_steps=6, save_strategy="steps", save_steps=4, dro_eta=0.01)
    else:
        resumed_args = tiny_config(tmp_path, max_steps=6, save_strategy="steps", save_steps=4, **change)
    resumed = SeedCatTrainer(model=tiny_model(), args=resumed_args, train_dataset=data)
    with pytest.raises(ValueError, match=message):
        resumed.train(resume_from_checkpoint=str(checkpoint))


def test_the_end_of_window_q_is_logged_before_a_regroup_resets_it(tmp_path):
    data = make_domain_dataset({"a": 40, "b": 24, "c": 30})
    trainer = SeedCatTrainer(
        model=tiny_model(),
        args=tiny_config(tmp_path, regroup_steps=3, logging_steps=3, dro_eta=0.5),
        train_dataset=data,
    )
    trainer.train()
    at_regroup = [e for e in trainer.state.log_history if e.get("step") == 3 and "q/a:0" in e]
    uniform = 1 / 6
    assert any(abs(e["q/a:0"] - uniform) > 1e-4 for e in at_regroup), at_regroup  # q after 3 updates


def test_batches_are_copied_to_the_device_without_blocking(tmp_path, monkeypatch):
    data = make_domain_dataset({"a": 40, "b": 24, "c": 30})
    trainer = SeedCatTrainer(model=tiny_model(), args=tiny_config(tmp_path), train_dataset=data)
    seen = []
    original = torch.Tensor.to

    def recording_to(self, *args, **kwargs):
        seen.append(kwargs.get("non_blocking", False))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", recording_to)
    trainer._prepare_inputs({"pixel_values": torch.zeros(2, 2, 8, 8), "labels": torch.zeros(2, dtype=torch.long)})
    assert seen and all(seen)


@pytest.mark.slow
@pytest.mark.xdist_group("two_processes")  # each job wants both cores: under -n 2 they run one after another
@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_two_processes_without_a_gpu_run_as_one_job(tmp_path, mnist_digits, launcher):
    """torchrun starts two processes: they join one distributed job under gloo. accelerate launch, without
    a GPU, starts one process itself (it has no multi-CPU mode without MPI): one job too, never two."""
    if launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    else:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2"]
    command += [str(ROOT / "scripts" / "run_dg.py"), "--max_steps", "4", "--regroup_steps", "2"]
    command += ["--save_steps", "4", "--max_digits", "900", "--checkpoint_freq", "4", "--disable_tqdm", "true"]
    command += ["--output_dir", str(tmp_path), "--eval_splits", "selection"]  # no --use_cpu: as a user types it
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    paths = sorted((tmp_path / "checkpoint-4").glob("seedcat_state_*.json"))
    states = [json.loads(path.read_text()) for path in paths]
    assert len(states) == (2 if launcher == "torchrun" else 1)
    assert all(s["sampler"]["num_replicas"] == len(states) for s in states)  # every process knows the others
    assert all(s["q"] == states[0]["q"] and s["group_ids"] == states[0]["group_ids"] for s in states)
    assert len([line for line in open(tmp_path / "results.jsonl") if line.strip()]) == 1  # one job, one writer
