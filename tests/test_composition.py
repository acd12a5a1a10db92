"""Group composition: what every seed category holds in ground-truth attributes, at every regroup."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch
from helpers import make_domain_dataset, tiny_config, tiny_model

from hf_seedcat import SeedCatTrainer
from hf_seedcat.analysis import composition_figure, group_composition, read_composition
from hf_seedcat.analysis.composition import GroupCompositionCallback, composition_logs, loss_auc


def test_composition_by_hand():
    # Two units of 4 samples, K = 2; unit 0's hard half holds both of its minority samples.
    group_ids = torch.tensor([0, 0, 1, 1, 2, 3, 2, 3])
    units = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    minority = torch.tensor([False, False, True, True, True, False, False, False])
    flipped = torch.tensor([True, False, False, True, False, False, False, True])
    losses = torch.tensor([0.1, 0.2, 0.9, 0.8, 0.3, 0.5, 0.1, 0.6])
    record = group_composition(
        group_ids,
        ["a:0", "a:1", "b:0", "b:1"],
        units,
        ["a", "b"],
        {"color_disagrees": minority, "label_flipped": flipped},
        losses,
    )
    a, b = record["units"]
    assert a["hardest"] == "a:1" and a["color_disagrees"] == 0.5
    assert a["hardest_precision"] == 1.0 and a["hardest_recall"] == 1.0 and a["hardest_enrichment"] == 2.0
    assert a["loss_auc"] == 1.0
    assert b["hardest"] == "b:1" and b["hardest_precision"] == 0.0 and b["hardest_recall"] == 0.0
    assert b["loss_auc"] == pytest.approx(1 / 3)  # the minority sample (0.3) beats one of three majority ones
    categories = {c["group"]: c for c in record["categories"]}
    assert categories["a:0"]["label_flipped"] == 0.5 and categories["a:0"]["size"] == 2
    logs = composition_logs(record)
    assert logs["composition/a:1/color_disagrees"] == 1.0 and logs["composition/a/hardest_enrichment"] == 2.0
    assert loss_auc(torch.tensor([1.0, 2.0]), torch.tensor([True, True])) is None


def test_without_the_minority_column_only_shares_are_reported():
    record = group_composition(
        torch.tensor([0, 1]),
        ["a:0", "a:1"],
        torch.tensor([0, 0]),
        ["a"],
        {"label_flipped": torch.tensor([1, 0]).bool()},
    )
    assert record["minority"] is None and "hardest_precision" not in record["units"][0]


# The runs here log every step, at TrainingArguments' default learning rate.
_config = partial(tiny_config, max_steps=7, logging_steps=1, learning_rate=5e-5)


def test_every_regroup_is_recorded_in_the_logs_the_file_and_the_figure(tmp_path):
    rng = np.random.default_rng(0)
    agrees, flipped = rng.integers(0, 2, 94), rng.integers(0, 2, 94)
    data = make_domain_dataset({"a": 40, "b": 24, "c": 30}, color_agrees=agrees, label_flipped=flipped)
    trainer = SeedCatTrainer(model=tiny_model(), args=_config(tmp_path), train_dataset=data)
    trainer.add_callback(GroupCompositionCallback(trainer))  # the run adds it (experiment.py); the Trainer does not
    trainer.train()
    records = read_composition(str(tmp_path))
    assert [r["step"] for r in records] == [0, 3, 6]
    last = records[-1]
    assert [c["group"] for c in last["categories"]] == trainer.seed_categories.group_names
    for category, size in zip(last["categories"], trainer.seed_categories.group_sizes, strict=True):
        members = (
            trainer.seed_categories.group_ids == trainer.seed_categories.group_names.index(category["group"])
        ).numpy()
        assert category["size"] == size
        assert category["color_disagrees"] == pytest.approx((agrees[members] == 0).mean())
        assert category["label_flipped"] == pytest.approx((flipped[members] == 1).mean())
    logged = [entry for entry in trainer.state.log_history if "composition/a/hardest_precision" in entry]
    assert [entry["step"] for entry in logged] == [0, 3, 6]
    pytest.importorskip("matplotlib")
    assert (tmp_path / "group_composition.png").stat().st_size > 1000
    assert composition_figure(str(tmp_path), str(tmp_path / "again.png")).endswith("again.png")


def test_a_resumed_run_does_not_record_a_regroup_twice(tmp_path):
    rng = np.random.default_rng(0)
    data = make_domain_dataset({"a": 40, "b": 24}, color_agrees=rng.integers(0, 2, 64))
    args = _config(tmp_path, save_strategy="steps", save_steps=4)
    first = SeedCatTrainer(model=tiny_model(), args=args, train_dataset=data)
    first.add_callback(GroupCompositionCallback(first))
    first.train()
    resumed = SeedCatTrainer(model=tiny_model(), args=args, train_dataset=data)
    resumed.add_callback(GroupCompositionCallback(resumed))
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-4"))
    steps = [json.loads(line)["step"] for line in open(tmp_path / "group_composition.jsonl")]
    assert steps == [0, 3, 6]
