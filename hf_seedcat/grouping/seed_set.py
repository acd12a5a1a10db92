"""Seed categories as the paper defines them (Sec. 3.4, Definitions 1 and 2), inside each unit.

Two samples are *adjacent* when the L2 distance of their features is below ``epsilon``. A *seed set*
dominates the adjacency graph: every other sample is adjacent to a seed. Every non-seed then joins a
random adjacent seed, and a seed with the samples that joined it is a *seed category*.

The smallest seed set is a minimum dominating set, which is NP-hard; we use the classic greedy
approximation (within a factor ``ln(max degree) + 1`` of the minimum) on the sparse radius graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.neighbors import NearestNeighbors

from .base import Grouper, GroupingInputs, register_grouper
from .kmeans import fill_empty_groups, order_by_size


@register_grouper("seed_set")
class SeedSetGrouper(Grouper):
    """Split every unit into ``groups_per_unit`` groups made of the paper's seed categories.

    Per unit: find a greedy seed set of the epsilon-adjacency graph, assign every non-seed to a random
    adjacent seed (``numpy`` RNG seeded by ``seed`` and the unit, so the result is reproducible), then
    map the seed categories onto exactly ``groups_per_unit`` groups, which the trainer's weights ``q``
    and sampler need for the whole run.

    Choosing epsilon: with ``epsilon=None`` (the default) it is chosen per unit, because distances differ
    between units and change as the features train: it is the smallest epsilon for which the greedy
    seed set has at most ``groups_per_unit`` seeds (a k-center radius), searched over quantiles of the
    unit's pairwise distances (:func:`seed_set_for_target`). The smallest such epsilon, not a larger
    one, keeps adjacency local: on separated clusters it stays below the gaps, so no seed category
    straddles two clusters. A given ``epsilon`` is used for every unit as is.

    From seed categories to groups:

    * more seed categories than groups: the smallest seed category is merged into the category of the
      nearest seed (distance between the seeds' features), until ``groups_per_unit`` are left. Very small
      seed categories are therefore never groups of their own: a group of a handful of samples would be
      drawn with replacement in every batch and its loss, hence its weight, would be noise. A too small
      ``epsilon`` gives many tiny categories, which this merging agglomerates.
    * fewer (a unit of near-identical samples): the largest group is split in halves along the
      direction from its mean to its farthest member, until there are ``groups_per_unit``.

    Group ``k`` of a unit is its k-th largest group, as for ``kmeans`` (ties: first sample's position).

    Large units: the graph at the chosen epsilon holds a sizeable share of all sample pairs (about
    ``n**2 / groups_per_unit``: each of a few seeds covers a big part of the unit), so memory and time
    grow quadratically. A unit of more than ``max_points`` samples (default 4,000, a graph of a few
    hundred MB at most) runs the seed-set search on ``max_points`` random samples of it; every other
    sample joins the category of its nearest seed, which may then lie farther than epsilon.
    """

    requires = ("features",)

    def __init__(
        self,
        groups_per_unit: int,
        epsilon: float | None = None,
        seed: int = 0,
        max_points: int = 4000,
    ) -> None:
        super().__init__(groups_per_unit)
        if epsilon is not None and not epsilon > 0:
            raise ValueError(f"epsilon must be a positive distance, got {epsilon}.")
        if max_points < groups_per_unit:
            raise ValueError(f"max_points={max_points} must be at least groups_per_unit={groups_per_unit}.")
        self.epsilon = epsilon
        self.seed = seed
        self.max_points = max_points

    def fit(self, inputs: GroupingInputs) -> torch.Tensor:
        features = inputs.features.detach().float().cpu().numpy()
        units = inputs.units.cpu().numpy()
        k = self.groups_per_unit
        group_ids = np.empty(len(units), dtype=np.int64)
        for unit in range(inputs.num_units):
            members = np.flatnonzero(units == unit)
            if k == 1:
                group_ids[members] = unit
                continue
            rng = np.random.default_rng((self.seed, unit))
            seed_of = self.seed_categories(features[members], rng)
            group_ids[members] = unit * k + categories_to_groups(features[members], seed_of, k)
        return torch.from_numpy(group_ids).to(inputs.units.device)

    def seed_categories(self, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The seed (a sample position) of every sample of one unit."""
        n = len(features)
        searched = np.arange(n)
        if n > self.max_points:
            searched = np.sort(rng.choice(n, self.max_points, replace=False))
        sample = features[searched].astype(np.float64)
        if self.epsilon is None:
            seeds, seed_of = seed_set_for_target(sample, self.groups_per_unit, rng)
        else:
            seeds, seed_of = greedy_dominating_set(sample, self.epsilon, rng)
        seed_of = searched[seed_of]
        if n > self.max_points:
            rest = np.setdiff1d(np.arange(n), searched)
            nearest = NearestNeighbors(n_neighbors=1).fit(features[searched[seeds]]).kneighbors(features[rest])[1]
            full = np.empty(n, dtype=np.int64)
            full[searched], full[rest] = seed_of, searched[seeds][nearest[:, 0]]
            seed_of = full
        return seed_of


def greedy_dominating_set(
    features: np.ndarray, epsilon: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Definitions 1 and 2 for one set of samples: a greedy seed set and the seed of every sample.

    Returns ``(seeds, seed_of)``: the seeds' positions in the order greedy picked them, and for every
    sample the position of its seed (a seed is its own). Every non-seed lies within ``epsilon`` of its
    seed, which is a random one among its adjacent seeds.
    """
    if not epsilon > 0:
        raise ValueError(f"epsilon must be a positive distance, got {epsilon}.")
    adjacency = RadiusGraph.build(np.asarray(features, dtype=np.float64), epsilon).adjacency(epsilon)
    seeds = greedy_seeds(adjacency, rng)
    return seeds, assign_to_seeds(adjacency, seeds, rng)


def seed_set_for_target(features: np.ndarray, target: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`greedy_dominating_set`, with the smallest epsilon for which ``target`` seeds suffice.

    That epsilon is the radius of a k-center cover with ``target`` centres, found over the quantiles of
    the distances of 4,096 random pairs: the quantile doubles from 1/16 until greedy needs at most
    ``target`` seeds (one neighbour search each), then a bisection below it only filters that graph's
    edges. If greedy needs exactly ``target`` seeds there, that is the answer; if it needs fewer (the
    count jumped past ``target``), the next smaller candidate, with more seeds than ``target``, is taken
    instead, and its extra seed categories get merged by the caller.
    """
    n = len(features)
    pairs = rng.integers(0, n, size=(2, 4096))
    distances = np.linalg.norm(features[pairs[0]] - features[pairs[1]], axis=1)
    candidates = np.unique(distances[distances > 0])
    if len(candidates) == 0:  # (almost) all samples identical: one seed; the caller splits it.
        candidates = np.ones(1)

    graph, evaluated = None, {}  # evaluated: candidate index -> greedy seeds at that epsilon

    def at_most_target(index: int) -> bool:
        evaluated[index] = greedy_seeds(graph.adjacency(candidates[index]), rng)
        return len(evaluated[index]) <= target

    low, high, quantile = -1, len(candidates), 1 / 16
    while high == len(candidates) and low < len(candidates) - 1:
        index = min(len(candidates) - 1, max(low + 1, int(np.ceil(quantile * len(candidates))) - 1))
        graph = RadiusGraph.build(features, candidates[index])
        low, high = (low, index) if at_most_target(index) else (index, high)
        quantile *= 2
    while high - low > 1:  # all below the last graph's radius
        middle = (low + high) // 2
        low, high = (low, middle) if at_most_target(middle) else (middle, high)
    exact = high < len(candidates) and (len(evaluated[high]) == target or low == -1)
    chosen = high if exact else low
    return evaluated[chosen], assign_to_seeds(graph.adjacency(candidates[chosen]), evaluated[chosen], rng)


@dataclass
class RadiusGraph:
    """All pairs of samples within ``radius`` (CSR rows without the diagonal), with their distances."""

    indptr: np.ndarray  # int64 [n + 1]
    indices: np.ndarray  # int32 [nnz]
    distances: np.ndarray  # float32 [nnz]

    @classmethod
    def build(cls, features: np.ndarray, radius: float, chunk_size: int = 512) -> RadiusGraph:
        """Neighbour search by ``NearestNeighbors.radius_neighbors``, ``chunk_size`` query rows at a time."""
        search = NearestNeighbors(radius=radius).fit(features)
        counts, indices, distances = [], [], []
        for start in range(0, len(features), chunk_size):
            chunk_distances, chunk_indices = search.radius_neighbors(features[start : start + chunk_size])
            lengths = np.array([len(row) for row in chunk_indices])
            rows = np.repeat(np.arange(start, start + len(lengths)), lengths)
            flat_indices = np.concatenate(chunk_indices).astype(np.int32)
            not_self = flat_indices != rows
            counts.append(np.bincount(rows[not_self] - start, minlength=len(lengths)))
            indices.append(flat_indices[not_self])
            distances.append(np.concatenate(chunk_distances)[not_self].astype(np.float32))
        indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64)
        return cls(indptr, np.concatenate(indices), np.concatenate(distances))

    def adjacency(self, epsilon: float) -> sp.csr_matrix:
        """The adjacency matrix of "distance below epsilon" (strictly, as in the paper); epsilon <= radius."""
        keep = self.distances < epsilon
        kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        n = len(self.indptr) - 1
        indptr = kept_before[self.indptr]
        return sp.csr_matrix((np.ones(int(indptr[-1]), dtype=bool), self.indices[keep], indptr), shape=(n, n))


def greedy_seeds(adjacency: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
    """Greedy dominating set: repeatedly pick the sample covering the most not-yet-dominated samples.

    A sample covers itself and its neighbours. Ties are broken at random (a permutation drawn from
    ``rng``). Each sample's neighbour list is read once, when it becomes dominated: O(edges + n * seeds).
    """
    n = adjacency.shape[0]
    indptr, indices = adjacency.indptr, adjacency.indices
    # key = (number of undominated samples covered) * n + random tie-break, all distinct
    key = (np.diff(indptr).astype(np.int64) + 1) * n + rng.permutation(n)
    dominated = np.zeros(n, dtype=bool)
    seeds, remaining = [], n
    while remaining:
        seed = int(np.argmax(key))
        seeds.append(seed)
        covered = np.append(indices[indptr[seed] : indptr[seed + 1]], seed)
        newly = covered[~dominated[covered]]
        dominated[newly] = True
        remaining -= len(newly)
        # every newly dominated sample stops counting for itself and for each of its neighbours
        key -= np.bincount(np.concatenate([newly, adjacency[newly].indices]), minlength=n) * n
    return np.array(seeds, dtype=np.int64)


def assign_to_seeds(adjacency: sp.csr_matrix, seeds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Definition 2: every non-seed joins a seed drawn uniformly among the seeds adjacent to it."""
    n = adjacency.shape[0]
    adjacent_seeds = adjacency[seeds].T.tocsr()  # row i: the seeds (by their rank in `seeds`) next to i
    counts = np.diff(adjacent_seeds.indptr)
    others = np.setdiff1d(np.arange(n), seeds)
    if (counts[others] == 0).any():
        raise ValueError("The seeds do not dominate the graph: some sample has no adjacent seed.")
    picks = adjacent_seeds.indptr[others] + (rng.random(len(others)) * counts[others]).astype(np.int64)
    seed_of = np.empty(n, dtype=np.int64)
    seed_of[seeds] = seeds
    seed_of[others] = seeds[adjacent_seeds.indices[picks]]
    return seed_of


def categories_to_groups(features: np.ndarray, seed_of: np.ndarray, k: int) -> np.ndarray:
    """Map seed categories onto exactly ``k`` groups ``0..k-1``, numbered by size (group 0 largest).

    More categories than ``k``: merge the smallest (ties: lowest seed position) into the category of the
    nearest remaining seed. Fewer: split the largest in halves (:func:`fill_empty_groups`).
    """
    seeds, labels = np.unique(seed_of, return_inverse=True)
    labels = labels.reshape(-1)
    if len(seeds) > k:
        seed_features = features[seeds].astype(np.float64)
        sizes = np.bincount(labels)
        alive = np.ones(len(seeds), dtype=bool)
        merged_into = np.arange(len(seeds))
        for _ in range(len(seeds) - k):
            smallest = int(np.argmin(np.where(alive, sizes, np.iinfo(sizes.dtype).max)))
            alive[smallest] = False
            candidates = np.flatnonzero(alive)
            gaps = seed_features[candidates] - seed_features[smallest]
            nearest = candidates[np.argmin(np.einsum("ij,ij->i", gaps, gaps))]
            sizes[nearest] += sizes[smallest]
            merged_into[smallest] = nearest
        while (merged_into[merged_into] != merged_into).any():  # follow chains of merges to the survivor
            merged_into = merged_into[merged_into]
        labels = merged_into[labels]
    return order_by_size(fill_empty_groups(features, labels, k), k)
