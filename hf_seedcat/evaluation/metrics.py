"""``compute_metrics`` for ``Trainer.evaluate``: the local ``group_accuracy`` evaluate module, no Hub needed."""

from __future__ import annotations

import os
from collections.abc import Sequence

import evaluate
import numpy as np
from transformers import EvalPrediction

GROUP_ACCURACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "group_accuracy")


def load_group_accuracy() -> evaluate.EvaluationModule:
    """``evaluate.load`` of the module shipped inside this package (works offline)."""
    return evaluate.load(GROUP_ACCURACY, keep_in_memory=True)


class DomainAccuracy:
    """``compute_metrics`` returning ``acc``, ``worst_domain_acc`` and ``acc_<domain>``.

    With a split named ``env0_in`` the keys become ``eval_env0_in_acc`` and so on. The domains come
    with the labels: ``SeedCatTrainer.prediction_step`` returns ``(labels, domains)`` when the
    evaluation data has the domain column. Without domains only ``acc`` is reported.
    """

    def __init__(self, domain_names: Sequence[str] | None = None) -> None:
        self.domain_names = list(domain_names) if domain_names is not None else None
        self.metric = load_group_accuracy()

    def __call__(self, eval_pred: EvalPrediction) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        labels, domains = eval_pred.label_ids, None
        if isinstance(labels, tuple):
            labels, domains = labels
        result = self.metric.compute(
            predictions=np.argmax(logits, axis=-1),
            references=labels,
            domains=domains,
            domain_names=self.domain_names if domains is not None else None,
        )
        metrics = {"acc": result.pop("accuracy")}
        if "worst_domain_accuracy" in result:
            metrics["worst_domain_acc"] = result.pop("worst_domain_accuracy")
        metrics.update({f"acc_{key.removeprefix('accuracy_')}": value for key, value in result.items()})
        return metrics
