"""Accuracy for ``Trainer.evaluate``: computed locally, no Hub download (``evaluate.load`` needs one)."""

from __future__ import annotations

import numpy as np
from transformers import EvalPrediction


def accuracy(eval_pred: EvalPrediction) -> dict[str, float]:
    """``compute_metrics`` returning ``acc``: with a split named ``env0_in`` the key is ``eval_env0_in_acc``."""
    logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
    labels = eval_pred.label_ids
    return {"acc": float(np.mean(np.argmax(logits, axis=-1) == labels))}
