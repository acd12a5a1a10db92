"""Training where users train: on the accelerator when one is visible (the GPU machine runs this file with
CUDA), on the CPU otherwise, in bf16 and fp16; the per-step objective reads nothing back from the device;
in-memory datasets are read as tensors with the same values."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_config, tiny_model

from hf_seedcat import SeedCatTrainer
from hf_seedcat.indexed_dataset import IndexedDataset
from hf_seedcat.regroup import GROUP_COLUMN, INDEX_COLUMN
from hf_seedcat.tensor_rows import TensorRows, as_tensor_rows

ACCELERATOR = "cuda" if torch.cuda.is_available() else "cpu"


def _trainer(tmp_path, dataset, **overrides) -> SeedCatTrainer:
    """Eight steps of 24 on the accelerator when one is visible, a regroup and a log every 4 steps."""
    settings = dict(max_steps=8, per_device_train_batch_size=24, regroup_steps=4, logging_steps=4)
    settings |= dict(learning_rate=5e-5, use_cpu=ACCELERATOR == "cpu")
    config = tiny_config(tmp_path, **{**settings, **overrides})
    return SeedCatTrainer(model=tiny_model(), args=config, train_dataset=dataset)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_on_the_accelerator(tmp_path, dataset, precision):
    trainer = _trainer(tmp_path, dataset, **{precision: True})
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train()
    device = next(trainer.model.parameters()).device
    assert device.type == ACCELERATOR
    assert all(
        not torch.equal(b, p.detach().cpu().to(b.device))
        for b, p in zip(before, trainer.model.parameters(), strict=True)
    )
    assert trainer.seed_categories.weights.q.device.type == ACCELERATOR  # q lives beside the losses it is updated from
    assert torch.isclose(trainer.seed_categories.weights.q.sum().cpu(), torch.tensor(1.0))
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2 and all(torch.isfinite(torch.tensor(entry["loss"])) for entry in logs)
    assert {f"group_loss/{name}" for name in trainer.seed_categories.group_names} <= set(logs[-1])


READ_BACKS = ("item", "tolist", "cpu", "numpy", "__bool__")


def test_the_objective_reads_nothing_back_from_the_device_between_logs(tmp_path, dataset, monkeypatch):
    """Every read-back (``item``, ``tolist``, ``cpu``, ``bool``) inside ``compute_loss`` is counted. On an
    accelerator none may happen on a step that does not log; on the CPU, where reading costs nothing, the
    one allowed is the immediate non-finite check. With CUDA, its sync debug mode also must stay silent."""
    trainer = _trainer(tmp_path, dataset, logging_steps=100)
    counts = []
    original = trainer.compute_loss

    def counted(*args, **kwargs):
        calls = []
        saved = {name: getattr(torch.Tensor, name) for name in READ_BACKS}

        def spy(name):
            def method(self, *a, **k):
                calls.append(name)
                return saved[name](self, *a, **k)

            return method

        for name in READ_BACKS:
            monkeypatch.setattr(torch.Tensor, name, spy(name))
        if ACCELERATOR == "cuda":
            torch.cuda.set_sync_debug_mode("error")
        try:
            return original(*args, **kwargs)
        finally:
            if ACCELERATOR == "cuda":
                torch.cuda.set_sync_debug_mode("default")
            for name, method in saved.items():
                monkeypatch.setattr(torch.Tensor, name, method)
            counts.append(len(calls))

    trainer.compute_loss = counted
    trainer.train()
    assert len(counts) == 8
    assert counts == [0 if ACCELERATOR != "cpu" else 1] * 8


def test_tensor_rows_give_the_same_rows_as_the_dataset(dataset):
    rows = as_tensor_rows(dataset)
    assert isinstance(rows, TensorRows) and len(rows) == len(dataset)
    picks = [5, 0, 93, 5]
    expected = dataset[picks]
    for i, row in enumerate(rows.__getitems__(picks)):
        for column in dataset.column_names:
            assert torch.equal(row[column], expected[column][i])
    wrapped = IndexedDataset(rows).__getitems__([(3, 1), (7, 0)])
    assert [row[INDEX_COLUMN] for row in wrapped] == [3, 7] and [row[GROUP_COLUMN] for row in wrapped] == [1, 0]
    plain = IndexedDataset(rows).__getitems__([4])[0]
    assert plain[INDEX_COLUMN] == 4 and GROUP_COLUMN not in plain  # a scoring batch is never weighted


def test_datasets_that_cannot_be_tensors_are_left_to_datasets(dataset):
    assert as_tensor_rows(dataset.with_format("numpy")) is None  # not torch-formatted
    assert as_tensor_rows(dataset.with_transform(lambda batch: batch)) is None  # a transform decides the rows
    assert as_tensor_rows(dataset, max_bytes=10) is None  # too large to hold
