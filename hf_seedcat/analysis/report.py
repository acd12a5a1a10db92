"""One call from a model and a dataset to ``cct.json``, ``cct.md`` and the Figure 1 PNGs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .consistency import PAPER_TABLE1, cct_markdown, cluster_consistency_table
from .figures import pattern_figures
from .views import PatternViews, collect_views


def sample_per_class(dataset, classes: Sequence[int], max_per_class: int | None, seed: int = 0):
    """The rows of ``classes``, at most ``max_per_class`` of each drawn at random (t-SNE and k-means stay quick)."""
    labels = torch.as_tensor(dataset.select_columns(["labels"]).with_format("numpy")[:]["labels"])
    generator = torch.Generator().manual_seed(seed)
    keep = []
    for c in classes:
        rows = torch.nonzero(labels == c).flatten()
        if len(rows) == 0:
            raise ValueError(f"No sample of class {c} in the dataset (classes present: {labels.unique().tolist()}).")
        if max_per_class is not None and len(rows) > max_per_class:
            rows = rows[torch.randperm(len(rows), generator=generator)[:max_per_class]].sort().values
        keep.append(rows)
    return dataset.select(torch.cat(keep).sort().values.tolist())


def analyze_patterns(
    model: nn.Module,
    dataset,
    output_dir: str,
    classes: Sequence[int] = (0, 1),
    n_clusters: int = 10,
    max_per_class: int | None = 2000,
    batch_size: int = 256,
    data_collator: Callable | None = None,
    path_encoding: str = "index",
    figures: bool = True,
    seed: int = 0,
) -> tuple[dict, PatternViews]:
    """Collect the three views of ``classes``' samples, write ``cct.json`` / ``cct.md`` and the t-SNE PNGs."""
    subset = sample_per_class(dataset, classes, max_per_class, seed)
    views = collect_views(model, subset, batch_size=batch_size, data_collator=data_collator)
    table = cluster_consistency_table(views, classes, n_clusters, seed, path_encoding)
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "cct.json"), "w") as f:
        json.dump(table, f, indent=2)
    with open(os.path.join(output_dir, "cct.md"), "w") as f:
        f.write(
            f"Cluster consistency (Eq. 3), K = {n_clusters}, classes {list(classes)}, "
            f"{len(subset)} samples, activation-path stages: {', '.join(views.stage_names)}.\n\n"
            + cct_markdown(table, PAPER_TABLE1)
            + "\n"
        )
    if figures:
        pattern_figures(views, classes, output_dir, seed=seed)
    return table, views
