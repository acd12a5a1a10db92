"""The regroup variants of issue 12 (keep q, averaged losses, one-shot) and GroupDRO on true groups."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from helpers import RecordingTrainer, make_domain_dataset, tiny_config, tiny_model

from hf_seedcat import LossHistory
from hf_seedcat.grouping.units import split_units_by
from hf_seedcat.schedule import RegroupSchedule

# The runs here log every step, at TrainingArguments' default learning rate.
_config = partial(tiny_config, max_steps=7, logging_steps=1, learning_rate=5e-5)


# ------------------------------------------------------------------------------------------ keep q


def test_the_paper_restarts_q_and_keep_q_carries_it_over(tmp_path, dataset):
    paper = RecordingTrainer(model=tiny_model(), args=_config(tmp_path / "paper"), train_dataset=dataset)
    paper.train()
    kept = RecordingTrainer(
        model=tiny_model(), args=_config(tmp_path / "kept", keep_q_on_regroup=True), train_dataset=dataset
    )
    kept.train()
    assert [s for s, *_ in kept.regroups] == [0, 3, 6]
    for (step, before, after, _), (*_, p_after, _) in zip(kept.regroups, paper.regroups, strict=True):
        assert torch.allclose(p_after, torch.full((6,), 1 / 6))
        if step > 0:
            assert torch.equal(after, before) and not torch.allclose(after, p_after)


# ---------------------------------------------------------------------------------- averaged losses


def test_loss_history_averages_the_last_passes_and_survives_a_checkpoint(tmp_path):
    history = LossHistory(2)
    assert torch.equal(history.push(torch.tensor([1.0, 4.0])), torch.tensor([1.0, 4.0]))
    assert torch.equal(history.push(torch.tensor([3.0, 0.0])), torch.tensor([2.0, 2.0]))
    assert torch.equal(history.push(torch.tensor([5.0, 2.0])), torch.tensor([4.0, 1.0]))  # the first pass left
    history.save(str(tmp_path), 0)
    restored = LossHistory(2)
    restored.load(str(tmp_path), 0)
    assert torch.equal(restored.push(torch.tensor([1.0, 1.0])), torch.tensor([3.0, 1.5]))
    assert LossHistory(1).save(str(tmp_path / "none"), 0) is None  # the paper's window writes nothing
    with pytest.raises(ValueError, match="earlier passes"):
        history.push(torch.tensor([1.0]))


def test_regroup_ranks_the_average_of_the_last_passes(tmp_path, dataset, monkeypatch):
    trainer = RecordingTrainer(
        model=tiny_model(), args=_config(tmp_path, regroup_loss_average=2, max_steps=7), train_dataset=dataset
    )
    passes = []
    score = trainer._score

    def recording_score(*args, **kwargs):
        losses, features = score(*args, **kwargs)
        passes.append(losses.clone())
        return losses, features

    monkeypatch.setattr(trainer, "_score", recording_score)
    trainer.train()
    assert len(passes) == 3 and len(trainer.ranked) == 3
    assert torch.equal(trainer.ranked[0], passes[0])
    assert torch.allclose(trainer.ranked[1], (passes[0] + passes[1]) / 2)
    assert torch.allclose(trainer.ranked[2], (passes[1] + passes[2]) / 2)
    for unit, size in enumerate([40, 24, 30]):  # quantiles of the averaged losses
        low, high = (
            trainer.ranked[2][trainer.seed_categories.group_ids == 2 * unit],
            trainer.ranked[2][trainer.seed_categories.group_ids == 2 * unit + 1],
        )
        assert len(low) + len(high) == size and low.max() <= high.min()


# ------------------------------------------------------------------------------------------ one-shot


def test_regroup_schedule():
    paper = RegroupSchedule(every=3)
    assert [s for s in range(1, 10) if paper.due(s, 9)] == [3, 6]
    once = RegroupSchedule(every=3, once_at=4)
    assert [s for s in range(1, 10) if once.due(s, 9)] == [4]
    warm = RegroupSchedule(every=3, start=2)
    assert [s for s in range(1, 10) if warm.due(s, 9)] == [2, 5, 8]
    assert warm.warming_up(0) and not warm.warming_up(2)
    assert once.warming_up(None) and once.warming_up(0) and not once.warming_up(4)
    assert not paper.warming_up(None)
    with pytest.raises(ValueError, match="regroup_steps must be a positive"):
        RegroupSchedule(every=0)


def test_one_shot_trains_erm_on_domains_then_groups_once_and_keeps_groups_and_q(tmp_path, dataset):
    trainer = RecordingTrainer(
        model=tiny_model(), args=_config(tmp_path, regroup_once_at=4, max_steps=8), train_dataset=dataset
    )
    trainer.train()
    assert [(step, n) for step, _, _, n in trainer.regroups] == [(0, 3), (4, 6)]
    for per_sample, groups, loss in trainer.objectives[:4]:  # plain mean over domain-balanced batches
        assert groups.max() < 3 and torch.allclose(loss, per_sample.mean())
        assert torch.bincount(groups, minlength=3).tolist() == [5, 5, 5]
    for per_sample, groups, loss in trainer.objectives[4:]:  # seed categories weighted by q
        assert torch.bincount(groups, minlength=6).tolist() == [2] * 6
        assert not torch.allclose(loss, per_sample.mean())
    assert trainer.seed_categories.group_names == ["a:0", "a:1", "b:0", "b:1", "c:0", "c:1"]
    assert not torch.allclose(trainer.seed_categories.weights.q, torch.full((6,), 1 / 6))  # q kept moving after step 4
    with pytest.raises(ValueError, match="seedcat variant"):
        _config(tmp_path, algorithm="groupdro", regroup_once_at=4)


def test_one_shot_resumes_in_the_right_phase(tmp_path, dataset):
    args = _config(tmp_path, regroup_once_at=4, max_steps=8, save_strategy="steps", save_steps=2)
    first = RecordingTrainer(model=tiny_model(), args=args, train_dataset=dataset)
    first.train()
    for checkpoint, phase_groups in (("checkpoint-2", 3), ("checkpoint-4", 6)):
        resumed = RecordingTrainer(model=tiny_model(), args=args, train_dataset=dataset)
        resumed.train(resume_from_checkpoint=str(tmp_path / checkpoint))
        assert [n for *_, n in resumed.regroups] == ([6] if phase_groups == 3 else [])
        assert torch.equal(resumed.seed_categories.group_ids, first.seed_categories.group_ids)
        assert torch.equal(resumed.seed_categories.weights.q, first.seed_categories.weights.q)


# -------------------------------------------------------------------------------- true groups (bound)


def test_split_units_by_names_every_domain_value_pair():
    units, names = split_units_by(torch.tensor([0, 0, 1, 1, 1]), ["a", "b"], torch.tensor([1, 0, 0, 0, 1]), "col")
    assert names == ["a|col=0", "a|col=1", "b|col=0", "b|col=1"] and units.tolist() == [1, 0, 2, 2, 3]


def test_groupdro_on_true_groups_uses_domain_times_the_column(tmp_path):
    data = make_domain_dataset({"a": 40, "b": 24}, color_agrees=np.tile([1, 1, 1, 0], 16).astype(np.float32))
    trainer = RecordingTrainer(
        model=tiny_model(),
        args=_config(tmp_path, algorithm="groupdro", group_column="color_agrees", max_steps=3),
        train_dataset=data,
    )
    trainer.train()
    assert trainer.seed_categories.group_names == [
        "a|color_agrees=0",
        "a|color_agrees=1",
        "b|color_agrees=0",
        "b|color_agrees=1",
    ]
    values = np.asarray(data["color_agrees"])
    domains = np.asarray(data["domain"])
    assert trainer.seed_categories.group_ids.tolist() == (2 * domains + values).astype(int).tolist()
    assert [s for s, *_ in trainer.regroups] == [0]  # static groups, q never restarts
    with pytest.raises(ValueError, match="use --algorithm groupdro"):
        _config(tmp_path, group_column="color_agrees")


def test_warm_up_trains_erm_then_regroups_every_t0_from_its_start(tmp_path, dataset):
    trainer = RecordingTrainer(
        model=tiny_model(), args=_config(tmp_path, regroup_start=2, max_steps=8), train_dataset=dataset
    )
    trainer.train()
    assert [(step, n) for step, _, _, n in trainer.regroups] == [(0, 3), (2, 6), (5, 6)]
    for per_sample, groups, loss in trainer.objectives[:2]:  # ERM on the domains before step 2
        assert groups.max() < 3 and torch.allclose(loss, per_sample.mean())
    assert torch.allclose(trainer.regroups[2][2], torch.full((6,), 1 / 6))  # later regroups restart q as the paper
    with pytest.raises(ValueError, match="excludes regroup_once_at"):
        _config(tmp_path, regroup_start=2, regroup_once_at=4)
