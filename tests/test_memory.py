"""Regrouping from remembered training losses: the moving average, the fresh re-scoring, processes, resume."""

from __future__ import annotations

import pytest
import torch
from helpers import RecordingTrainer, make_domain_dataset, tiny_config, tiny_model

from hf_seedcat import SeedCatConfig
from hf_seedcat.grouping import GroupingInputs, create_grouper
from hf_seedcat.memory import TrainingLossMemory
from hf_seedcat.regroup import INDEX_COLUMN


def test_first_sight_takes_the_value_and_later_sights_blend_it():
    memory = TrainingLossMemory(4, decay=0.5)
    memory.record(torch.tensor([0, 2]), torch.tensor([1.0, 3.0]), step=0)
    memory.record(torch.tensor([0, 1]), torch.tensor([3.0, 5.0]), step=1)
    assert memory.losses.tolist() == [2.0, 5.0, 3.0, 0.0]
    assert memory.last_seen.tolist() == [1, 1, 0, -1]
    assert memory.seen_after(0).tolist() == [True, True, False, False]
    assert not memory.seen_after(None).any()
    memory.record(torch.tensor([0]), torch.tensor([7.0]), step=2, replace=True)
    assert memory.losses[0] == 7.0
    with pytest.raises(ValueError, match=r"memory_decay must be in \[0, 1\)"):
        TrainingLossMemory(3, decay=1.0)


def test_processes_agree_on_the_most_recently_seen_copy():
    a, b = TrainingLossMemory(3), TrainingLossMemory(3)
    a.record(torch.tensor([0, 1]), torch.tensor([1.0, 1.0]), step=5, features=torch.ones(2, 2))
    b.record(torch.tensor([1, 2]), torch.tensor([2.0, 2.0]), step=7, features=torch.full((2, 2), 2.0))

    others = iter([b.last_seen, b.losses, b.features])  # what process 1 holds, in synchronize's gather order

    def gather(tensor):
        """accelerator.gather as process 0 sees it: its own tensor, then process 1's."""
        return torch.cat([tensor, next(others)])

    before_a = (a.losses.clone(), a.features.clone(), a.last_seen.clone())
    a.synchronize(gather, num_processes=2)
    assert a.losses.tolist() == [1.0, 2.0, 2.0]
    assert a.last_seen.tolist() == [5, 7, 7]
    assert a.features[:, 0].tolist() == [1.0, 2.0, 2.0]
    assert not torch.equal(before_a[0], a.losses)


def test_save_and_load_round_trip_and_a_checkpoint_without_memory_is_named(tmp_path):
    memory = TrainingLossMemory(3)
    memory.record(torch.tensor([1]), torch.tensor([4.0]), step=3, features=torch.ones(1, 2))
    memory.save(str(tmp_path), 0)
    restored = TrainingLossMemory(3)
    restored.load(str(tmp_path), 0)
    assert torch.equal(restored.losses, memory.losses) and torch.equal(restored.features, memory.features)
    with pytest.raises(FileNotFoundError, match="saved without --regroup_source memory"):
        restored.load(str(tmp_path), 1)
    with pytest.raises(ValueError, match="remembers 3 samples; this run has 5"):
        TrainingLossMemory(5).load(str(tmp_path), 0)


@pytest.mark.parametrize("grouping", ["loss_rank", "kmeans"])
def test_regroup_reads_memory_and_scores_only_the_samples_unseen_since_the_last_regroup(tmp_path, grouping):
    dataset = make_domain_dataset({"a": 40, "b": 24, "c": 30})
    config = tiny_config(tmp_path, max_steps=4, regroup_source="memory", grouping=grouping)
    trainer = RecordingTrainer(model=tiny_model(), args=config, train_dataset=dataset)
    trainer.train()
    assert [r.step for r in trainer.regroups] == [0, 3]
    assert trainer.seed_categories.rescored_at_last_regroup is not None  # set by the step-3 regroup
    seen_in_window = {i for inputs in trainer.seen[:3] for i in inputs[INDEX_COLUMN].tolist()}
    assert 0 < len(seen_in_window) < len(dataset)  # 48 draws with replacement leave some samples unseen
    assert trainer.seed_categories.rescored_at_last_regroup == len(dataset) - len(seen_in_window)
    # the step-3 grouping is the grouper applied to the memory as it stood then (step 3's batch came later)
    memory = trainer.seed_categories.memory
    assert (memory.last_seen >= 0).all() and memory.losses.gt(0).all()
    if grouping == "kmeans":
        assert memory.features is not None and memory.features.shape[0] == len(dataset)


def test_static_groupings_keep_no_memory(tmp_path):
    dataset = make_domain_dataset({"a": 20, "b": 20})
    trainer = RecordingTrainer(
        model=tiny_model(),
        args=tiny_config(tmp_path, algorithm="groupdro", regroup_source="memory"),
        train_dataset=dataset,
    )
    trainer.train()
    assert trainer.seed_categories.memory is None


def test_bad_source_is_refused(tmp_path):
    with pytest.raises(ValueError, match="regroup_source must be one of"):
        SeedCatConfig(output_dir=str(tmp_path), regroup_source="cache")
    assert create_grouper("loss_rank", groups_per_unit=2)(
        GroupingInputs(units=torch.tensor([0, 0]), num_units=1, losses=torch.tensor([1.0, 2.0]))
    ).tolist() == [0, 1]
