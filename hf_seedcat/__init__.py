"""hf_seedcat: seed-category training for the Hugging Face ``Trainer``.

After "Exploring and Utilizing Pattern Imbalance" (Mei et al.).
"""

from .analysis import GroupCompositionCallback, PatternImbalanceCallback, analyze_patterns, composition_figure
from .config import SeedCatConfig
from .evaluation import DomainAccuracy
from .finite_checks import NonFiniteLossError
from .grouping import create_grouper
from .hub import load_model
from .models import create_image_classifier
from .regroup_variants import LossHistory
from .schedule import RegroupSchedule
from .seed_categories import SeedCategories
from .trainer import SeedCatTrainer
from .weighting import GroupWeights

__version__ = "0.1.0"

__all__ = [
    "DomainAccuracy",
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
