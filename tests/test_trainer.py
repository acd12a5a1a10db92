"""SeedCatTrainer on small in-memory data: sampling, the q update, regrouping, logging, bad input."""

from __future__ import annotations

import glob

import pytest
import torch
from helpers import RecordingTrainer, make_domain_dataset, tiny_config, tiny_model

from hf_seedcat import NonFiniteLossError, SeedCatTrainer
from hf_seedcat.regroup import GROUP_COLUMN, INDEX_COLUMN


def test_domain_column_and_ids_reach_compute_loss_without_remove_unused_columns(tmp_path, dataset):
    config = tiny_config(tmp_path)
    assert config.remove_unused_columns  # the user did not turn it off
    trainer = RecordingTrainer(model=tiny_model(), args=config, train_dataset=dataset)
    trainer.train()
    domains = dataset.with_format("numpy")["domain"]
    for inputs in trainer.seen:
        assert {"domain", INDEX_COLUMN, GROUP_COLUMN, "labels"} <= set(inputs)
        assert inputs["domain"].tolist() == [int(domains[i]) for i in inputs[INDEX_COLUMN].tolist()]


def test_every_step_draws_the_same_number_from_every_group(tmp_path, dataset):
    trainer = RecordingTrainer(model=tiny_model(), args=tiny_config(tmp_path, max_steps=7), train_dataset=dataset)
    trainer.train()
    assert len(trainer.seen) == 7
    assert trainer.seed_categories.group_names == ["a:0", "a:1", "b:0", "b:1", "c:0", "c:1"]
    for inputs in trainer.seen:
        # 16 // 6 groups = 2 samples from each group
        assert torch.bincount(inputs[GROUP_COLUMN], minlength=6).tolist() == [2] * 6
        # the groups are inside their domains: group g belongs to domain g // 2
        assert torch.equal(inputs[GROUP_COLUMN] // 2, inputs["domain"])


def test_regroups_at_zero_and_every_t0_and_q_restarts(tmp_path, dataset):
    trainer = RecordingTrainer(model=tiny_model(), args=tiny_config(tmp_path, max_steps=7), train_dataset=dataset)
    trainer.train()
    assert [r.step for r in trainer.regroups] == [0, 3, 6]
    for step, before, after, _ in trainer.regroups:
        assert torch.allclose(after, torch.full((6,), 1 / 6))
        if step > 0:
            assert not torch.allclose(before, after)  # q had moved away from uniform and was restarted
    assert trainer.seed_categories.last_regroup_step == 6


def test_loss_groups_rank_the_current_losses(tmp_path, dataset):
    trainer = SeedCatTrainer(model=tiny_model(), args=tiny_config(tmp_path, max_steps=3), train_dataset=dataset)
    trainer.train()
    trainer.regroup(trainer.state.global_step)
    losses, _ = trainer._score(trainer.model, with_features=False)
    for unit in range(3):
        low = losses[trainer.seed_categories.group_ids == 2 * unit]
        high = losses[trainer.seed_categories.group_ids == 2 * unit + 1]
        assert len(low) + len(high) == [40, 24, 30][unit]
        assert low.max() <= high.min()


def test_q_follows_the_papers_update_in_training(tmp_path, dataset):
    """Replays the logged per-group losses through q <- q*exp(eta*loss), normalise, and compares."""
    trainer = SeedCatTrainer(
        model=tiny_model(),
        args=tiny_config(tmp_path, max_steps=1, logging_steps=1, dro_eta=0.5),
        train_dataset=dataset,
    )
    trainer.train()
    log = next(entry for entry in trainer.state.log_history if "loss" in entry)
    losses = torch.tensor([log[f"group_loss/{name}"] for name in trainer.seed_categories.group_names])
    expected = torch.softmax(0.5 * losses, dim=0)  # one step from uniform
    logged_q = torch.tensor([log[f"q/{name}"] for name in trainer.seed_categories.group_names])
    assert torch.allclose(logged_q, expected, atol=1e-5)


def test_q_group_losses_and_sizes_reach_trainer_state_and_tensorboard(tmp_path, dataset):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny_config(tmp_path, report_to="tensorboard")
    trainer = SeedCatTrainer(model=tiny_model(), args=config, train_dataset=dataset)
    trainer.train()
    train_logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(train_logs) == 3
    for entry in train_logs:
        assert sum(entry[f"q/{name}"] for name in trainer.seed_categories.group_names) == pytest.approx(1.0, abs=1e-4)
        assert sorted(entry[f"group_size/{name}"] for name in ("a:0", "a:1")) == [20, 20]
        assert all(entry[f"group_loss/{name}"] > 0 for name in trainer.seed_categories.group_names)
    trainer.save_state()
    assert "q/a:0" in open(tmp_path / "trainer_state.json").read()
    events = EventAccumulator(glob.glob(str(tmp_path / "**" / "events.out.tfevents.*"), recursive=True)[0])
    events.Reload()
    assert {"train/q/a:0", "train/group_loss/c:1", "train/group_size/b:0"} <= set(events.Tags()["scalars"])


@pytest.mark.parametrize("algorithm", ["erm", "groupdro"])
def test_baselines_use_domains_as_groups(tmp_path, dataset, algorithm):
    trainer = RecordingTrainer(
        model=tiny_model(), args=tiny_config(tmp_path, algorithm=algorithm, max_steps=4), train_dataset=dataset
    )
    trainer.train()
    assert trainer.seed_categories.group_names == ["a", "b", "c"]
    assert [r.step for r in trainer.regroups] == [0, 3]  # called, but domains never change
    for inputs in trainer.seen:
        assert torch.equal(inputs[GROUP_COLUMN], inputs["domain"])
        assert torch.bincount(inputs["domain"], minlength=3).tolist() == [5, 5, 5]
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    if algorithm == "erm":
        assert not any(key.startswith("q/") for key in logs[-1])
    else:  # GroupDRO keeps its q across the (no-op) regroup: it never restarts
        assert not torch.allclose(trainer.seed_categories.weights.q, torch.full((3,), 1 / 3))
        # two logs, each the mean of two steps' group losses: q = softmax(eta * sum over the four steps)
        summed = sum(torch.tensor([log[f"group_loss/{n}"] for n in "abc"]) for log in logs) * 2
        assert torch.allclose(trainer.seed_categories.weights.q, torch.softmax(0.01 * summed, dim=0), atol=1e-5)


def test_training_changes_every_parameter(tmp_path, dataset):
    model = tiny_model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    SeedCatTrainer(model=model, args=tiny_config(tmp_path), train_dataset=dataset).train()
    for name, parameter in model.named_parameters():
        assert not torch.equal(before[name], parameter), f"{name} did not change"


def test_missing_domain_column_is_named(tmp_path, dataset):
    trainer = SeedCatTrainer(
        model=tiny_model(), args=tiny_config(tmp_path), train_dataset=dataset.remove_columns("domain")
    )
    with pytest.raises(ValueError, match="no 'domain' column"):
        trainer.train()
    renamed = dataset.rename_column("domain", "site")
    config = tiny_config(tmp_path, domain_column="site", max_steps=1)
    SeedCatTrainer(model=tiny_model(), args=config, train_dataset=renamed).train()


def test_k_larger_than_a_domain_is_refused(tmp_path):
    small = make_domain_dataset({"a": 40, "b": 3})
    trainer = SeedCatTrainer(model=tiny_model(), args=tiny_config(tmp_path, groups_per_domain=4), train_dataset=small)
    with pytest.raises(ValueError, match="Unit 1 has 3 samples, fewer than groups_per_domain=4"):
        trainer.train()


def test_an_empty_training_set_is_refused(tmp_path, dataset):
    trainer = SeedCatTrainer(model=tiny_model(), args=tiny_config(tmp_path), train_dataset=dataset.select([]))
    with pytest.raises(ValueError, match="training dataset is empty"):
        trainer.train()


def test_nan_loss_names_step_group_and_samples(tmp_path, dataset):
    def poison(row, index):
        if row["domain"] == 1:
            row["pixel_values"] = torch.full_like(row["pixel_values"], float("nan"))
        return row

    poisoned = dataset.map(poison, with_indices=True).with_format("torch")
    trainer = SeedCatTrainer(
        model=tiny_model(), args=tiny_config(tmp_path, algorithm="groupdro"), train_dataset=poisoned
    )
    with pytest.raises(NonFiniteLossError, match=r"at step 0: groups \['b'\], sample ids \[(4\d|5\d|6[0-3]),"):
        trainer.train()
    # seedcat meets the same samples first in its regroup pass, and names them there
    trainer = SeedCatTrainer(model=tiny_model(), args=tiny_config(tmp_path), train_dataset=poisoned)
    with pytest.raises(ValueError, match=r"NaN or infinite values \(sample ids \[40, 41"):
        trainer.train()


@pytest.mark.parametrize("grouping", ["kmeans", "seed_set"])
def test_feature_groupings_cluster_the_models_own_features(tmp_path, dataset, grouping):
    trainer = RecordingTrainer(
        model=tiny_model(), args=tiny_config(tmp_path, grouping=grouping, max_steps=4), train_dataset=dataset
    )
    trainer.train()
    assert [r.step for r in trainer.regroups] == [0, 3]
    assert sorted(torch.bincount(trainer.seed_categories.group_ids, minlength=6).tolist())[0] > 0
    for inputs in trainer.seen:
        assert torch.bincount(inputs[GROUP_COLUMN], minlength=6).tolist() == [2] * 6
        assert torch.equal(inputs[GROUP_COLUMN] // 2, inputs["domain"])


def test_the_regroup_pass_scores_the_scoring_dataset_not_the_augmented_training_rows(tmp_path, monkeypatch):
    import hf_seedcat.trainer as trainer_module

    raw = make_domain_dataset({"a": 20, "b": 20}).with_format(None)

    def shifted(shift):
        def transform(batch):
            return {
                "pixel_values": torch.tensor(batch["pixel_values"]) + shift,  # +100 stands for augmentation
                "labels": torch.tensor(batch["labels"]),
                "domain": torch.tensor(batch["domain"]),
            }

        return transform

    scored = []
    real = trainer_module.score_samples

    def spy(model, batches, *args, **kwargs):
        def tap():
            for batch in batches:
                scored.append(float(batch["pixel_values"].mean()))
                yield batch

        return real(model, tap(), *args, **kwargs)

    monkeypatch.setattr(trainer_module, "score_samples", spy)
    trainer = RecordingTrainer(
        model=tiny_model(),
        args=tiny_config(tmp_path, max_steps=4),
        train_dataset=raw.with_transform(shifted(100.0)),
        scoring_dataset=raw.with_transform(shifted(0.0)),
    )
    trainer.train()
    assert scored and max(scored) < 1.0  # the pass saw un-augmented rows
    assert all(inputs["labels"].numel() for inputs in trainer.seen)
    with pytest.raises(ValueError, match="scoring_dataset has 1 rows but train_dataset 40"):
        SeedCatTrainer(
            model=tiny_model(), args=tiny_config(tmp_path), train_dataset=raw, scoring_dataset=raw.select([0])
        )
