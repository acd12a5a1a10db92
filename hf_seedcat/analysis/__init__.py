"""Seeing pattern imbalance (the paper's section 3.2): activation paths, cluster consistency, t-SNE figures;
and what seed categories hold in ground-truth attributes (``composition``)."""

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
