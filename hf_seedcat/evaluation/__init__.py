"""Evaluation: accuracy, DomainBed's results.jsonl, and model selection over it."""

from .metrics import accuracy
from .model_selection import last_step, training_domain_validation
from .results import RESULTS_FILE, ResultsJsonlCallback, read_results

__all__ = [
    "RESULTS_FILE",
    "ResultsJsonlCallback",
    "accuracy",
    "last_step",
    "read_results",
    "training_domain_validation",
]
