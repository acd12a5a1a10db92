"""Seed categories from per-sample losses, and the registry every grouping goes through."""

from __future__ import annotations

import pytest
import torch

from hf_seedcat.grouping import GROUPERS, GroupingInputs, create_grouper
from hf_seedcat.grouping.units import make_units


def test_loss_rank_splits_each_unit_into_loss_quantiles():
    # unit 0: losses 0..7 shuffled; unit 1: losses 10..13 -> K=2 groups each.
    losses = torch.tensor([5.0, 0.0, 7.0, 2.0, 12.0, 1.0, 6.0, 10.0, 3.0, 13.0, 4.0, 11.0])
    units = torch.tensor([0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 1])
    groups = create_grouper("loss_rank", groups_per_unit=2)(GroupingInputs(units, 2, losses=losses))
    # unit 0 (ids 0/1): losses 0,1,2,3 -> group 0; 4,5,6,7 -> group 1. unit 1 (ids 2/3): 10,11 | 12,13.
    expected = torch.tensor([1, 0, 1, 0, 3, 0, 1, 2, 0, 3, 1, 2])
    assert torch.equal(groups, expected)


def test_loss_rank_groups_differ_in_size_by_at_most_one_and_cover_everything():
    generator = torch.Generator().manual_seed(0)
    units = torch.randint(0, 3, (1001,), generator=generator)
    losses = torch.rand(1001, generator=generator)
    groups = create_grouper("loss_rank", groups_per_unit=4)(GroupingInputs(units, 3, losses=losses))
    assert groups.shape == units.shape
    for unit in range(3):
        sizes = torch.bincount(groups[units == unit] - 4 * unit, minlength=4)
        assert sizes.sum() == (units == unit).sum()
        assert int(sizes.max() - sizes.min()) <= 1
        # every sample of a higher group has a loss at least as high as every sample of a lower one
        for k in range(3):
            low = losses[(units == unit) & (groups == 4 * unit + k)]
            high = losses[(units == unit) & (groups == 4 * unit + k + 1)]
            assert low.max() <= high.min()


def test_loss_rank_is_deterministic_with_ties():
    units = torch.zeros(8, dtype=torch.long)
    losses = torch.ones(8)
    grouper = create_grouper("loss_rank", groups_per_unit=4)
    first = grouper(GroupingInputs(units, 1, losses=losses))
    assert torch.equal(first, grouper(GroupingInputs(units, 1, losses=losses)))
    assert torch.equal(first, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))


def test_more_groups_than_samples_in_a_unit_is_refused():
    units = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="Unit 0 has 3 samples, fewer than groups_per_domain=4"):
        create_grouper("loss_rank", groups_per_unit=4)(GroupingInputs(units, 2, losses=torch.rand(8)))


def test_an_empty_unit_is_refused():
    units = torch.tensor([0, 0, 2, 2])
    with pytest.raises(ValueError, match="Unit 1 has no samples"):
        create_grouper("loss_rank", groups_per_unit=1)(GroupingInputs(units, 3, losses=torch.rand(4)))


def test_non_finite_losses_are_refused_with_their_sample_ids():
    losses = torch.tensor([0.1, float("nan"), 0.3, float("inf")])
    with pytest.raises(ValueError, match=r"NaN or infinite.*\[1, 3\]"):
        create_grouper("loss_rank", groups_per_unit=2)(GroupingInputs(torch.zeros(4, dtype=torch.long), 1, losses))


def test_missing_signal_is_named():
    with pytest.raises(ValueError, match="needs per-sample losses"):
        create_grouper("loss_rank", groups_per_unit=2)(GroupingInputs(torch.zeros(4, dtype=torch.long), 1))


def test_registry_names_unknown_groupings():
    assert {"loss_rank", "unit"} <= set(GROUPERS)
    with pytest.raises(ValueError, match="Unknown grouping 'kmeanz'"):
        create_grouper("kmeanz", groups_per_unit=2)


def test_unit_grouping_is_one_group_per_unit():
    units = torch.tensor([1, 0, 1, 2])
    assert torch.equal(create_grouper("unit")(GroupingInputs(units, 3)), units)


def test_make_units_by_domain_class_and_pair():
    domains = torch.tensor([2, 0, 2, 0, 0])
    labels = torch.tensor([1, 1, 0, 0, 1])
    units, names = make_units(domains, labels, "domain", ["a", "b", "c"])
    assert units.tolist() == [1, 0, 1, 0, 0] and names == ["a", "c"]
    units, names = make_units(domains, labels, "class", ["a", "b", "c"])
    assert units.tolist() == [1, 1, 0, 0, 1] and names == ["class0", "class1"]
    units, names = make_units(domains, labels, "domain_class", ["a", "b", "c"])
    assert names == ["a|class0", "a|class1", "c|class0", "c|class1"]
    assert units.tolist() == [3, 1, 2, 0, 1]
    with pytest.raises(ValueError, match="training dataset is empty"):
        make_units(torch.tensor([]), torch.tensor([]), "domain")
