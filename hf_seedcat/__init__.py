"""hf_seedcat: seed-category training for the Hugging Face ``Trainer``.

After "Exploring and Utilizing Pattern Imbalance" (Mei et al.).
"""

from .analysis import GroupCompositionCallback, PatternImbalanceCallback, analyze_patterns, composition_figure
from .config import SeedCatConfig
from .evaluation import DomainAccuracy
from .grouping import create_grouper
from .hub import load_model
from .models import create_image_classifier
from .regroup_variants import LossHistory
from .trainer import NonFiniteLossError, SeedCatTrainer
from .weighting import GroupWeights

__version__ = "0.1.0"

__all__ = [
    "DomainAccuracy",
    "GroupCompositionCallback",
    "GroupWeights",
    "LossHistory",
    "NonFiniteLossError",
    "PatternImbalanceCallback",
    "SeedCatConfig",
    "SeedCatTrainer",
    "analyze_patterns",
    "composition_figure",
    "create_grouper",
    "create_image_classifier",
    "load_model",
]
