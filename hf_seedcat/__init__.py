"""hf_seedcat: seed-category training for the Hugging Face ``Trainer``.

After "Exploring and Utilizing Pattern Imbalance" (Mei et al.).
"""

from .analysis import PatternImbalanceCallback, analyze_patterns
from .config import SeedCatConfig
from .grouping import create_grouper
from .hub import load_model
from .models import create_image_classifier
from .trainer import NonFiniteLossError, SeedCatTrainer
from .weighting import GroupWeights

__version__ = "0.1.0"

__all__ = [
    "GroupWeights",
    "NonFiniteLossError",
    "PatternImbalanceCallback",
    "SeedCatConfig",
    "SeedCatTrainer",
    "analyze_patterns",
    "create_grouper",
    "create_image_classifier",
    "load_model",
]
