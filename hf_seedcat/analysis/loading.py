"""Load a saved classifier by its config's ``model_type``; small on purpose, a shared ``load_model`` may replace it."""

from __future__ import annotations

import json
import os

from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification, PreTrainedModel

from ..models import MnistCnnForImageClassification, TimmForImageClassification

OWN_MODELS = {
    "seedcat_mnist_cnn": MnistCnnForImageClassification,
    "seedcat_timm_classifier": TimmForImageClassification,
}


def load_classifier(path: str) -> PreTrainedModel:
    """hf_seedcat's own image models by ``model_type``; anything else through the Auto classes."""
    config_file = os.path.join(path, "config.json")
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"{path} holds no config.json; is it a saved model folder (a run's output_dir)?")
    with open(config_file) as f:
        model_type = json.load(f).get("model_type")
    if model_type in OWN_MODELS:
        return OWN_MODELS[model_type].from_pretrained(path)
    try:
        return AutoModelForSequenceClassification.from_pretrained(path)
    except ValueError:
        return AutoModelForImageClassification.from_pretrained(path)
