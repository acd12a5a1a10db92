"""Seed categories by clustering: k-means on the penultimate features inside each unit.

The paper's "cluster" variant (Tab. 4): instead of ranking losses, every unit is split into the
``groups_per_unit`` clusters of its samples in feature space. The helpers at the bottom (splitting a
group in halves, numbering groups by size) are shared with the ``seed_set`` grouping.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans

from .base import Grouper, GroupingInputs, register_grouper


@register_grouper("kmeans")
class KMeansGrouper(Grouper):
    """Split every unit into ``groups_per_unit`` k-means clusters of its features (L2 distance).

    Units of up to ``minibatch_above`` samples (default 50,000) run full k-means (``KMeans``, best of
    ``n_init`` k-means++ starts); larger units run ``MiniBatchKMeans`` with ``batch_size``, whose cost
    does not grow with the number of passes over the whole unit. Both use ``random_state=seed``, so every
    process that sees the same features computes the same groups.

    Group numbering: group ``k`` of a unit is its k-th *largest* cluster (ties broken by the position of
    each cluster's first sample). Cluster labels out of k-means are arbitrary and would reshuffle at every
    regrouping; ordering by size gives group ``k`` a stable meaning (group 0 is the unit's majority
    pattern, the last group its rarest one, which is what the weights ``q`` are there to up-weight) and
    needs no signal beyond the features, so the trainer does not have to compute losses for it.

    Fewer distinct points than clusters: when k-means leaves clusters empty (duplicate features, e.g. a
    collapsed representation), the largest cluster is split in two halves along the direction from its
    mean to its farthest member, until there are ``groups_per_unit`` non-empty groups; every group id
    is therefore always populated, which the trainer's sampler needs.
    """

    requires = ("features",)

    def __init__(
        self,
        groups_per_unit: int,
        seed: int = 0,
        n_init: int = 3,
        batch_size: int = 4096,
        minibatch_above: int = 50_000,
    ) -> None:
        super().__init__(groups_per_unit)
        if n_init < 1:
            raise ValueError(f"n_init must be at least 1, got {n_init}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.seed = seed
        self.n_init = n_init
        self.batch_size = batch_size
        self.minibatch_above = minibatch_above

    def fit(self, inputs: GroupingInputs) -> torch.Tensor:
        features = inputs.features.detach().float().cpu().numpy()
        units = inputs.units.cpu().numpy()
        k = self.groups_per_unit
        group_ids = np.empty(len(units), dtype=np.int64)
        for unit in range(inputs.num_units):
            members = np.flatnonzero(units == unit)
            labels = self.cluster(features[members])
            group_ids[members] = unit * k + order_by_size(fill_empty_groups(features[members], labels, k), k)
        return torch.from_numpy(group_ids).to(inputs.units.device)

    def cluster(self, features: np.ndarray) -> np.ndarray:
        """k-means labels (0..k-1, some possibly unused) of the samples of one unit."""
        k = self.groups_per_unit
        if k == 1:
            return np.zeros(len(features), dtype=np.int64)
        options = {"n_clusters": k, "n_init": self.n_init, "random_state": self.seed}
        if len(features) > self.minibatch_above:
            model = MiniBatchKMeans(batch_size=self.batch_size, **options)
        else:
            model = KMeans(**options)
        with warnings.catch_warnings():
            # duplicate points leave clusters empty; fill_empty_groups handles that explicitly.
            warnings.filterwarnings("ignore", message="Number of distinct clusters")
            return model.fit_predict(features).astype(np.int64)


def split_in_halves(features: np.ndarray) -> np.ndarray:
    """Boolean mask of the "upper" half of a group: its samples farthest along mean -> farthest member.

    Sorting is stable, so identical samples (no direction at all) are halved by position. With at least
    two samples both halves are non-empty.
    """
    centered = features - features.mean(axis=0)
    direction = centered[np.argmax(np.einsum("ij,ij->i", centered, centered))]
    order = np.argsort(centered @ direction, kind="stable")
    upper = np.zeros(len(features), dtype=bool)
    upper[order[len(features) // 2 :]] = True
    return upper


def fill_empty_groups(features: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Relabel to ``0..k-1`` with no empty label, splitting the largest group in halves while some are empty.

    Needs at least ``k`` samples (``check_units`` guarantees it), so the largest group always has two.
    """
    labels = np.unique(labels, return_inverse=True)[1].reshape(-1)
    for new_label in range(labels.max() + 1, k):
        largest = np.argmax(np.bincount(labels))  # ties: lowest label
        members = np.flatnonzero(labels == largest)
        labels[members[split_in_halves(features[members])]] = new_label
    return labels


def order_by_size(labels: np.ndarray, k: int) -> np.ndarray:
    """Renumber labels ``0..k-1`` so that group 0 is the largest; ties go to the group seen first."""
    sizes = np.bincount(labels, minlength=k)
    first_seen = np.full(k, len(labels))
    np.minimum.at(first_seen, labels, np.arange(len(labels)))
    rank = np.empty(k, dtype=np.int64)
    rank[np.lexsort((first_seen, -sizes))] = np.arange(k)
    return rank[labels]
