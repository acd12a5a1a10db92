"""The group-balanced batch sampler: the same number of samples from every group, every step."""

from __future__ import annotations

import pytest
import torch

from hf_seedcat.sampling import GroupBalancedBatchSampler


def _sampler(group_ids: torch.Tensor, num_groups: int, batch_size: int, seed: int = 0):
    sampler = GroupBalancedBatchSampler(len(group_ids), batch_size, seed=seed)
    sampler.set_groups(group_ids, num_groups)
    return sampler


def test_every_batch_holds_exactly_batch_over_groups_from_each_group():
    # very unequal groups: 3, 50 and 947 samples
    group_ids = torch.cat([torch.zeros(3), torch.ones(50), torch.full((947,), 2)]).long()
    group_ids = group_ids[torch.randperm(1000, generator=torch.Generator().manual_seed(1))]
    sampler = _sampler(group_ids, 3, batch_size=32)
    assert sampler.per_group == 10 and len(sampler) == 1000 // 32
    for batch in sampler:
        assert len(batch) == 30
        drawn_groups = torch.tensor([group for _, group in batch])
        assert torch.bincount(drawn_groups, minlength=3).tolist() == [10, 10, 10]
        # each index really belongs to the group it was drawn for
        assert all(int(group_ids[index]) == group for index, group in batch)


def test_small_groups_are_drawn_with_replacement_and_seed_fixes_the_sequence():
    group_ids = torch.tensor([0, 0, 1, 1, 1, 1])
    first = [b for b in _sampler(group_ids, 2, batch_size=6, seed=3)]
    again = [b for b in _sampler(group_ids, 2, batch_size=6, seed=3)]
    other = [b for b in _sampler(group_ids, 2, batch_size=6, seed=4)]
    assert first == again and first != other
    group0 = [index for batch in first for index, group in batch if group == 0]
    assert len(group0) > len(set(group0))  # 3 per batch from 2 samples: repeats


def test_batches_are_a_function_of_position_so_resume_can_skip():
    group_ids = torch.arange(40) % 4
    sampler = _sampler(group_ids, 4, batch_size=8)
    sampler.set_epoch(2)
    run = list(sampler)
    again = _sampler(group_ids, 4, batch_size=8)
    again.set_epoch(2)
    assert again.draw_batch(3) == run[3]  # a resumed run drawing batch 3 directly gets the same batch
    again.set_epoch(3)
    assert again.draw_batch(3) != run[3]  # a new epoch draws afresh


def test_processes_split_one_global_batch_without_overlap():
    group_ids = torch.arange(400) % 4
    single = _sampler(group_ids, 4, batch_size=16)
    shards = []
    for rank in range(2):
        sampler = GroupBalancedBatchSampler(400, 8, seed=0, num_replicas=2, rank=rank)
        sampler.set_groups(group_ids, 4)
        shards.append(sampler.draw_batch(0))
        assert torch.bincount(torch.tensor([g for _, g in shards[-1]]), minlength=4).tolist() == [2] * 4
    # the two processes' slices together are what one process with the doubled batch draws
    assert sorted(shards[0] + shards[1]) == sorted(single.draw_batch(0))
    assert len(GroupBalancedBatchSampler(400, 8, seed=0, num_replicas=2)) == 400 // 16


def test_bad_groupings_are_refused_with_a_sentence():
    with pytest.raises(ValueError, match="Group 1 .* is empty"):
        _sampler(torch.tensor([0, 0, 2, 2]), 3, batch_size=6)
    with pytest.raises(ValueError, match="per_device_train_batch_size=4 cannot give one sample to each of 8"):
        _sampler(torch.arange(16) % 8, 8, batch_size=4)
    with pytest.raises(ValueError, match="training dataset is empty"):
        GroupBalancedBatchSampler(0, 8, seed=0)
    with pytest.raises(RuntimeError, match="No grouping installed"):
        GroupBalancedBatchSampler(4, 4, seed=0).draw_batch(0)
