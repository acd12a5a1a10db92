"""Cluster Consistency (the paper's Eq. 3): do samples that cluster together under one view also under another?"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from .views import PatternViews

VIEWS = ("rep", "path", "loss")
PAIRS = tuple(itertools.combinations(VIEWS, 2))  # rep_path, rep_loss, path_loss: the paper's Table 1


def cluster_consistency(a: np.ndarray, b: np.ndarray) -> float:
    """P(two samples share a cluster in ``b`` | they share one in ``a``), over pairs of distinct samples.

    From the contingency table: sum_ab n_ab (n_ab - 1) / sum_a n_a (n_a - 1). NaN when no cluster of
    ``a`` holds two samples (the condition never holds).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"Partitions of different lengths: {a.shape} and {b.shape}.")
    _, a_ids = np.unique(a, return_inverse=True)
    _, b_ids = np.unique(b, return_inverse=True)
    joint = np.bincount(a_ids * (b_ids.max() + 1) + b_ids).astype(np.float64)
    sizes = np.bincount(a_ids).astype(np.float64)
    same_a = (sizes * (sizes - 1)).sum()
    return float((joint * (joint - 1)).sum() / same_a) if same_a else float("nan")


def expected_random_consistency(b: np.ndarray) -> float:
    """CCT's expectation when ``b``'s labels are shuffled: sum_b n_b (n_b - 1) / (n (n - 1)), whatever ``a`` is."""
    sizes = np.bincount(np.unique(np.asarray(b), return_inverse=True)[1]).astype(np.float64)
    n = sizes.sum()
    return float((sizes * (sizes - 1)).sum() / (n * (n - 1)))


def kmeans_labels(points: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """k-means cluster ids; K shrinks to the number of distinct points when there are fewer."""
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    k = min(n_clusters, len(np.unique(points, axis=0)))
    if k < 2:
        return np.zeros(len(points), dtype=np.int64)
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(points)


def view_points(views: PatternViews, path_encoding: str = "index") -> dict[str, np.ndarray]:
    """What k-means sees per view. Paths as raw channel indices (the paper's 6-d vector) or one-hot per stage."""
    if path_encoding == "index":
        paths = views.paths.float().numpy()
    elif path_encoding == "onehot":
        width = int(views.paths.max()) + 1
        paths = torch.nn.functional.one_hot(views.paths.long(), width).flatten(1).float().numpy()
    else:
        raise ValueError(f"path_encoding must be 'index' or 'onehot', got {path_encoding!r}.")
    return {"rep": views.features.numpy(), "path": paths, "loss": views.losses.numpy()}


def cluster_consistency_table(
    views: PatternViews,
    classes: Sequence[int] | None = None,
    n_clusters: int = 10,
    seed: int = 0,
    path_encoding: str = "index",
) -> dict:
    """Table 1 of the paper: CCT for each pair of views and for random partitions, averaged over classes.

    Each class (one checkpoint) is a group: its samples are clustered under every view with k-means.
    ``<a>_<b>`` conditions on view a (Eq. 3 as written: P(same cluster in b | same cluster in a)) and
    ``<b>_<a>`` on view b. ``random`` is the paper's baseline: two partitions of each class into K clusters
    drawn uniformly at random (about 1/K). ``random_<a>_<b>`` shuffles the two views' own cluster ids,
    keeping their sizes: unequal clusters (one big "easy" cluster, typically) raise CCT by chance alone,
    so this is the bar a pair must clear. ``ari_<a>_<b>``, the adjusted Rand index, is a symmetric summary
    with chance at 0 whatever the sizes.
    """
    classes = sorted(int(c) for c in views.labels.unique()) if classes is None else [int(c) for c in classes]
    rng = np.random.default_rng(seed)
    per_class = {}
    for c in classes:
        members = torch.nonzero(views.labels == c).flatten()
        if len(members) < 2:
            raise ValueError(f"Class {c} has {len(members)} samples; CCT needs at least two per class.")
        points = view_points(views.subset(members), path_encoding)
        labels = {view: kmeans_labels(points[view], n_clusters, seed) for view in VIEWS}
        row = {}
        for a, b in PAIRS:
            row[f"{a}_{b}"] = cluster_consistency(labels[a], labels[b])
            row[f"{b}_{a}"] = cluster_consistency(labels[b], labels[a])
            row[f"random_{a}_{b}"] = cluster_consistency(rng.permutation(labels[a]), rng.permutation(labels[b]))
            row[f"expected_random_{a}_{b}"] = expected_random_consistency(labels[b])
            row[f"expected_random_{b}_{a}"] = expected_random_consistency(labels[a])
            row[f"ari_{a}_{b}"] = float(adjusted_rand_score(labels[a], labels[b]))
        row["random"] = cluster_consistency(*rng.integers(0, n_clusters, (2, len(members))))
        row["n_samples"] = len(members)
        row["clusters"] = {view: int(labels[view].max()) + 1 for view in VIEWS}
        per_class[str(c)] = row
    keys = [k for k in next(iter(per_class.values())) if k not in ("n_samples", "clusters")]
    table = {key: float(np.nanmean([row[key] for row in per_class.values()])) for key in keys}
    return {
        **table,
        "n_clusters": n_clusters,
        "classes": classes,
        "path_encoding": path_encoding,
        "stages": views.stage_names,
        "per_class": per_class,
    }


def cct_markdown(table: dict, paper: dict[str, float] | None = None) -> str:
    """The paper's Table 1 layout, plus the reverse conditioning, the same-size baselines and the paper's row."""
    columns = ["random", *(f"{a}_{b}" for a, b in PAIRS)]
    titles = ["Random", "Rep-Path", "Rep-Loss", "Path-Loss"]
    lines = ["| Pair | " + " | ".join(titles) + " |", "|" + " --- |" * (len(titles) + 1)]
    lines.append("| CCT (A = first view) | " + " | ".join(f"{table[c]:.3f}" for c in columns) + " |")
    reverse = ["-"] + [f"{table[f'{b}_{a}']:.3f}" for a, b in PAIRS]
    lines.append("| CCT (A = second view) | " + " | ".join(reverse) + " |")
    for row, order in (("first", 1), ("second", -1)):
        chance = ["-"] + [f"{table['expected_random_' + '_'.join((a, b)[::order])]:.3f}" for a, b in PAIRS]
        lines.append(f"| chance for the {row} row (same cluster sizes) | " + " | ".join(chance) + " |")
    lines.append(
        "| adjusted Rand index (chance = 0) | - | "
        + " | ".join(f"{table['ari_' + c]:.3f}" for c in columns[1:])
        + " |"
    )
    if paper:
        lines.append("| paper (CIFAR-10) | " + " | ".join(f"{paper[c]:.3f}" for c in columns) + " |")
    return "\n".join(lines)


# The paper's Table 1: CIFAR-10, ResNet-34, K = 10.
PAPER_TABLE1 = {"random": 0.118, "rep_path": 0.241, "rep_loss": 0.577, "path_loss": 0.508}
