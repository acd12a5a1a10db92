"""Seeing pattern imbalance (the paper's section 3.2): activation paths, cluster consistency, t-SNE figures;
and what seed categories hold in ground-truth attributes (``composition``).

Names are imported on first use (PEP 562): a run that only adds the composition callback does not load
t-SNE, k-means and the activation-path machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_exports

_EXPORTS = {
    "COMPOSITION_FILE": ".composition",
    "GroupCompositionCallback": ".composition",
    "PAPER_TABLE1": ".consistency",
    "PatternImbalanceCallback": ".callback",
    "PatternViews": ".views",
    "StageNotFoundError": ".stages",
    "analyze_patterns": ".report",
    "cct_markdown": ".consistency",
    "cluster_consistency": ".consistency",
    "cluster_consistency_table": ".consistency",
    "collect_views": ".views",
    "composition_figure": ".composition",
    "expected_random_consistency": ".consistency",
    "find_stages": ".stages",
    "group_composition": ".composition",
    "kmeans_labels": ".consistency",
    "load_classifier": ".loading",
    "pattern_figures": ".figures",
    "read_composition": ".composition",
    "sample_per_class": ".report",
    "strongest_channel": ".stages",
    "tsne_figure": ".figures",
}

if TYPE_CHECKING:
    from .callback import PatternImbalanceCallback
    from .composition import (
        COMPOSITION_FILE,
        GroupCompositionCallback,
        composition_figure,
        group_composition,
        read_composition,
    )
    from .consistency import (
        PAPER_TABLE1,
        cct_markdown,
        cluster_consistency,
        cluster_consistency_table,
        expected_random_consistency,
        kmeans_labels,
    )
    from .figures import pattern_figures, tsne_figure
    from .loading import load_classifier
    from .report import analyze_patterns, sample_per_class
    from .stages import StageNotFoundError, find_stages, strongest_channel
    from .views import PatternViews, collect_views

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "COMPOSITION_FILE",
    "GroupCompositionCallback",
    "PAPER_TABLE1",
    "PatternImbalanceCallback",
    "PatternViews",
    "StageNotFoundError",
    "analyze_patterns",
    "cct_markdown",
    "cluster_consistency",
    "cluster_consistency_table",
    "collect_views",
    "composition_figure",
    "expected_random_consistency",
    "find_stages",
    "group_composition",
    "kmeans_labels",
    "load_classifier",
    "pattern_figures",
    "read_composition",
    "sample_per_class",
    "strongest_channel",
    "tsne_figure",
]
