"""t-SNE pictures of the paper's Figure 1: representations (a) and activation paths (b), coloured by loss."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.manifold import TSNE

from .views import PatternViews

MARKERS = "o^sDvP*X<>"


def tsne_figure(
    points: np.ndarray, losses: np.ndarray, labels: np.ndarray, path: str, title: str, seed: int = 0
) -> str:
    """Embed ``points`` in 2-d with t-SNE and save a scatter coloured by loss (log scale), one marker per class.

    Repeated points (activation paths take few values) are drawn once, their area growing with their count
    and their colour the mean loss of the samples they stand for.
    """
    # Imported here so that ``import hf_seedcat`` does not load matplotlib; Agg draws to files, no display needed.
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("The figures need matplotlib: pip install 'hf_seedcat[analysis]'.") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    points = np.asarray(points, dtype=np.float32).reshape(len(points), -1)
    labels, losses = np.asarray(labels), np.asarray(losses, dtype=np.float64)
    # Activation paths repeat: draw each distinct (point, class) once, sized by its count, coloured by mean loss.
    keys, inverse, counts = np.unique(
        np.concatenate([points, labels[:, None]], axis=1), axis=0, return_inverse=True, return_counts=True
    )
    inverse = inverse.reshape(-1)
    mean_loss = np.bincount(inverse, losses) / counts
    unique_points, unique_labels = keys[:, :-1], keys[:, -1].astype(labels.dtype)
    if len(keys) >= 3:
        perplexity = min(30.0, max(1.0, (len(keys) - 1) / 3))
        embedded = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            unique_points
        )
    else:  # too few to embed
        embedded = np.stack([np.arange(len(keys)), np.zeros(len(keys))], axis=1)
    floor = max(float(np.percentile(losses, 1)), 1e-6)
    norm = LogNorm(vmin=floor, vmax=max(float(losses.max()), floor * 10))
    fig, ax = plt.subplots(figsize=(6, 5), dpi=120)
    scatter = None
    for i, c in enumerate(np.unique(labels)):
        mask = unique_labels == c
        marker = MARKERS[i % len(MARKERS)]
        scatter = ax.scatter(
            *embedded[mask].T,
            c=np.clip(mean_loss[mask], floor, None),
            norm=norm,
            cmap="viridis",
            s=6 * np.sqrt(counts[mask]),
            alpha=0.7,
            marker=marker,
            linewidths=0,
        )
        ax.scatter([], [], c="grey", s=16, marker=marker, label=f"class {c}")  # a legend entry in neutral colour
    fig.colorbar(scatter, ax=ax, label="cross-entropy loss (log scale; mean where points repeat)")
    ax.legend(loc="best", fontsize=8)
    sized = ", marker area ~ count" if counts.max() > 1 else ""
    ax.set_title(f"{title}\n{len(points)} samples, {len(keys)} distinct{sized}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def pattern_figures(
    views: PatternViews, classes: Sequence[int], output_dir: str, prefix: str = "", seed: int = 0
) -> list[str]:
    """Figure 1a (representations) and 1b (activation paths) for ``classes``; returns the PNG paths."""
    mask = torch.isin(views.labels, torch.as_tensor(list(classes)))
    chosen = views.subset(torch.nonzero(mask).flatten())
    labels, losses = chosen.labels.numpy(), chosen.losses.numpy()
    names = ", ".join(str(c) for c in classes)
    return [
        tsne_figure(
            chosen.features.numpy(),
            losses,
            labels,
            os.path.join(output_dir, f"{prefix}tsne_representations.png"),
            f"{prefix}representations, classes {names}",
            seed,
        ),
        tsne_figure(
            chosen.paths.float().numpy(),
            losses,
            labels,
            os.path.join(output_dir, f"{prefix}tsne_activation_paths.png"),
            f"{prefix}activation paths, classes {names}\n(stages {', '.join(views.stage_names)})",
            seed,
        ),
    ]
