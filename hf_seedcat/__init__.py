"""hf_seedcat: seed-category training for the Hugging Face ``Trainer``.

After "Exploring and Utilizing Pattern Imbalance" (Mei et al.).

The public names are imported on first use (PEP 562), not with the package: reading results or building
a grouping must not import the Trainer, the Hub code and the analysis (transformers' Trainer, timm,
scikit-learn). ``from hf_seedcat import SeedCatTrainer`` works as before, and type checkers and IDEs see
every name through the ``TYPE_CHECKING`` imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy_exports import lazy_exports

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "DomainAccuracy": ".evaluation.metrics",
    "DomainBedConfig": ".protocol",
    "GroupCompositionCallback": ".analysis.composition",
    "GroupWeights": ".weighting",
    "LossHistory": ".regroup_variants",
    "NonFiniteLossError": ".finite_checks",
    "PatternImbalanceCallback": ".analysis.callback",
    "RegroupSchedule": ".schedule",
    "SeedCatConfig": ".config",
    "SeedCatTrainer": ".trainer",
    "SeedCategories": ".seed_categories",
    "analyze_patterns": ".analysis.report",
    "composition_figure": ".analysis.composition",
    "create_grouper": ".grouping",
    "create_image_classifier": ".models",
    "load_model": ".hub",
}

if TYPE_CHECKING:
    from .analysis.callback import PatternImbalanceCallback
    from .analysis.composition import GroupCompositionCallback, composition_figure
    from .analysis.report import analyze_patterns
    from .config import SeedCatConfig
    from .evaluation.metrics import DomainAccuracy
    from .finite_checks import NonFiniteLossError
    from .grouping import create_grouper
    from .hub import load_model
    from .models import create_image_classifier
    from .protocol import DomainBedConfig
    from .regroup_variants import LossHistory
    from .schedule import RegroupSchedule
    from .seed_categories import SeedCategories
    from .trainer import SeedCatTrainer
    from .weighting import GroupWeights

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DomainAccuracy",
    "DomainBedConfig",
    "GroupCompositionCallback",
    "GroupWeights",
    "LossHistory",
    "NonFiniteLossError",
    "PatternImbalanceCallback",
    "RegroupSchedule",
    "SeedCatConfig",
    "SeedCatTrainer",
    "SeedCategories",
    "analyze_patterns",
    "composition_figure",
    "create_grouper",
    "create_image_classifier",
    "load_model",
]
