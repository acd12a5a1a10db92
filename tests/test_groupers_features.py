"""Seed categories from penultimate features: k-means and the paper's greedy seed set (Definitions 1, 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hf_seedcat.grouping import GroupingInputs, create_grouper
from hf_seedcat.grouping.seed_set import greedy_dominating_set

FEATURE_GROUPERS = [
    ("kmeans", {}),
    ("kmeans", {"minibatch_above": 50, "batch_size": 64}),
    ("seed_set", {}),
    ("seed_set", {"max_points": 100}),
]


def separated_clusters(sizes=(90, 60, 30), num_units=2, dim=8, seed=0):
    """Two units, each with tight Gaussian clusters of the given sizes far apart, in shuffled order.

    Returns features [N, dim], units [N], and the true cluster of every sample (unit * len(sizes) + c).
    """
    generator = torch.Generator().manual_seed(seed)
    features, units, clusters = [], [], []
    for unit in range(num_units):
        centres = torch.randn(len(sizes), dim, generator=generator) * 20
        for c, size in enumerate(sizes):
            features.append(centres[c] + 0.1 * torch.randn(size, dim, generator=generator))
            units.append(torch.full((size,), unit))
            clusters.append(torch.full((size,), unit * len(sizes) + c))
    order = torch.randperm(sum(sizes) * num_units, generator=generator)
    return torch.cat(features)[order], torch.cat(units)[order], torch.cat(clusters)[order]


def group(name, features, units, num_units, **options):
    return create_grouper(name, **options)(GroupingInputs(units, num_units, features=features))


def assert_valid_layout(groups, units, num_units, k):
    """Every sample in one group of its own unit (ids unit * k + 0..k-1), and no group id empty."""
    assert groups.dtype == torch.int64 and groups.shape == units.shape
    assert torch.equal(groups // k, units)
    assert (torch.bincount(groups, minlength=num_units * k) > 0).all()
    assert len(torch.bincount(groups)) == num_units * k


@pytest.mark.parametrize(("name", "options"), FEATURE_GROUPERS)
def test_separated_clusters_are_recovered_and_numbered_by_size(name, options):
    features, units, clusters = separated_clusters()
    groups = group(name, features, units, 2, groups_per_unit=3, **options)
    assert_valid_layout(groups, units, 2, 3)
    for cluster in range(6):
        assert len(torch.unique(groups[clusters == cluster])) == 1, f"cluster {cluster} is split"
    # one group per cluster, and group k of a unit is its k-th largest cluster (sizes 90, 60, 30)
    first_of_each_cluster = torch.stack([torch.nonzero(clusters == c)[0, 0] for c in range(6)])
    assert torch.equal(groups[first_of_each_cluster], torch.arange(6))


@pytest.mark.parametrize(("name", "options"), FEATURE_GROUPERS)
@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_every_sample_in_exactly_one_nonempty_group_of_its_unit(name, options, k):
    generator = torch.Generator().manual_seed(1)
    units = torch.randint(0, 3, (240,), generator=generator)
    features = torch.randn(240, 16, generator=generator)
    groups = group(name, features, units, 3, groups_per_unit=k, **options)
    assert_valid_layout(groups, units, 3, k)


@pytest.mark.parametrize(("name", "options"), FEATURE_GROUPERS)
def test_same_seed_gives_the_same_groups(name, options):
    generator = torch.Generator().manual_seed(2)
    units = torch.randint(0, 2, (200,), generator=generator)
    features = torch.randn(200, 8, generator=generator)
    grouper = create_grouper(name, groups_per_unit=4, **options)
    first = grouper(GroupingInputs(units, 2, features=features))
    assert torch.equal(first, grouper(GroupingInputs(units, 2, features=features)))
    assert torch.equal(first, group(name, features, units, 2, groups_per_unit=4, seed=0, **options))


def test_another_seed_can_give_other_seed_categories():
    # on structureless data the greedy ties and the random choice among adjacent seeds decide
    features = torch.randn(300, 4, generator=torch.Generator().manual_seed(3))
    units = torch.zeros(300, dtype=torch.long)
    results = [group("seed_set", features, units, 1, groups_per_unit=4, seed=seed) for seed in range(3)]
    assert any(not torch.equal(results[0], other) for other in results[1:])


@pytest.mark.parametrize(("name", "options"), FEATURE_GROUPERS)
def test_duplicate_points_still_fill_every_group(name, options):
    # unit 0: ten copies of one point; unit 1: two distinct points, five copies each -> 3 groups each
    features = torch.cat([torch.ones(10, 5), torch.zeros(5, 5), torch.full((5, 5), 3.0)])
    units = torch.tensor([0] * 10 + [1] * 10)
    groups = group(name, features, units, 2, groups_per_unit=3, **options)
    assert_valid_layout(groups, units, 2, 3)
    # the two distinct points of unit 1 never share a group
    assert not set(groups[10:15].tolist()) & set(groups[15:].tolist())


@pytest.mark.parametrize(("name", "options"), FEATURE_GROUPERS)
def test_more_groups_than_samples_is_refused(name, options):
    units = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="Unit 0 has 3 samples, fewer than groups_per_domain=4"):
        group(name, torch.randn(8, 3), units, 2, groups_per_unit=4, **options)


@pytest.mark.parametrize(("name", "options"), FEATURE_GROUPERS)
def test_non_finite_features_are_refused_with_their_sample_ids(name, options):
    features = torch.randn(6, 3)
    features[2, 1], features[4, 0] = float("nan"), float("inf")
    with pytest.raises(ValueError, match=r"features contain NaN or infinite.*\[2, 4\]"):
        group(name, features, torch.zeros(6, dtype=torch.long), 1, groups_per_unit=2, **options)


@pytest.mark.parametrize("name", ["kmeans", "seed_set"])
def test_missing_features_are_named(name):
    with pytest.raises(ValueError, match="needs per-sample features"):
        create_grouper(name, groups_per_unit=2)(GroupingInputs(torch.zeros(4, dtype=torch.long), 1))


def test_groupers_are_created_by_name():
    features, units, _ = separated_clusters()
    kmeans = create_grouper("kmeans", groups_per_unit=3)
    seed_set = create_grouper("seed_set", groups_per_unit=3, epsilon=0.5)
    assert kmeans.requires == seed_set.requires == ("features",)
    assert not kmeans.static and not seed_set.static
    for grouper in (kmeans, seed_set):
        assert_valid_layout(grouper(GroupingInputs(units, 2, features=features)), units, 2, 3)
    with pytest.raises(ValueError, match="epsilon must be a positive distance"):
        create_grouper("seed_set", groups_per_unit=3, epsilon=0.0)


def test_greedy_seed_set_dominates_and_every_sample_joins_an_adjacent_seed():
    features = np.random.default_rng(4).random((400, 2))
    epsilon = 0.15
    seeds, seed_of = greedy_dominating_set(features, epsilon, np.random.default_rng(0))
    assert len(np.unique(seeds)) == len(seeds)
    assert np.array_equal(seed_of[seeds], seeds)
    assert set(seed_of.tolist()) == set(seeds.tolist())
    # Definition 1: every non-seed is adjacent (distance strictly below epsilon) to its seed
    assert (np.linalg.norm(features - features[seed_of], axis=1) < epsilon).all()
    # far fewer seeds than samples: the unit square needs about (1 / epsilon)^2 balls of radius epsilon
    assert len(seeds) < 40


def test_greedy_seed_set_picks_one_seed_per_separated_clique():
    features, _, clusters = separated_clusters(num_units=1)
    features = features.double().numpy()
    seeds, seed_of = greedy_dominating_set(features, 2.0, np.random.default_rng(0))  # clusters' diameter < 2
    assert len(seeds) == 3
    for cluster in range(3):
        assert len(np.unique(seed_of[clusters.numpy() == cluster])) == 1


def test_greedy_seed_of_is_random_among_adjacent_seeds():
    # a path 0 - 1 - 2 - 3 - 4 (epsilon 1.5: neighbours only): greedy often ends with seeds {1, 3}, and
    # then sample 2, adjacent to both, must join either of them depending on the RNG (Definition 2).
    features = np.arange(5, dtype=np.float64)[:, None]
    choices = set()
    for seed in range(20):
        seeds, seed_of = greedy_dominating_set(features, 1.5, np.random.default_rng(seed))
        assert (np.abs(features[:, 0] - features[seed_of, 0]) < 1.5).all()
        if set(seeds.tolist()) == {1, 3}:
            choices.add(int(seed_of[2]))
    assert choices == {1, 3}


def test_seed_categories_are_merged_into_the_nearest_seed_down_to_k_groups():
    # 1-d unit: clusters at 0 (40 samples), 10 (30), 11 (5) and 30 (20); epsilon 0.5 gives four seed
    # categories; k=3 merges the smallest (at 11) into the nearest seed's category (at 10), not the one at 30.
    generator = np.random.default_rng(5)
    centres = np.repeat([0.0, 10.0, 11.0, 30.0], [40, 30, 5, 20])
    features = torch.tensor(centres + generator.uniform(-0.1, 0.1, len(centres)), dtype=torch.float32)[:, None]
    units = torch.zeros(len(centres), dtype=torch.long)
    groups = group("seed_set", features, units, 1, groups_per_unit=3, epsilon=0.5)
    expected = np.repeat([0, 1, 1, 2], [40, 30, 5, 20])  # sizes 40, 35, 20
    assert np.array_equal(groups.numpy(), expected)
    # and with an epsilon that joins everything into one seed category, halves fill the three groups
    groups = group("seed_set", features, units, 1, groups_per_unit=3, epsilon=100.0)
    assert_valid_layout(groups, units, 1, 3)


def test_chosen_epsilon_does_not_bridge_clusters_of_different_spread():
    # clusters of different spreads; the k-center epsilon must stay below the gaps between them
    generator = torch.Generator().manual_seed(6)
    parts = [torch.randn(80, 4, generator=generator) * s + c for s, c in [(0.1, 0.0), (1.0, 12.0), (0.3, -12.0)]]
    features, units = torch.cat(parts), torch.zeros(240, dtype=torch.long)
    groups = group("seed_set", features, units, 1, groups_per_unit=3)
    for part in range(3):
        assert len(torch.unique(groups[80 * part : 80 * (part + 1)])) == 1
