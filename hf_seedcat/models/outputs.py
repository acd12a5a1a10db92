"""The output every hf_seedcat image model returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput


@dataclass
class ClassifierOutput(ModelOutput):
    """Logits, and the penultimate features when asked for (groupings and analysis cluster on them)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    features: torch.Tensor | None = None


def classification_output(
    features: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor | None, output_features: bool
) -> ClassifierOutput:
    loss = torch.nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
    return ClassifierOutput(loss=loss, logits=logits, features=features if output_features else None)
