"""``compute_metrics`` for ``Trainer.evaluate``: the local ``group_accuracy`` evaluate module, no Hub needed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import evaluate
import numpy as np
from transformers import EvalPrediction

GROUP_ACCURACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "group_accuracy")


def load_group_accuracy() -> evaluate.EvaluationModule:
    """``evaluate.load`` of the module shipped inside this package (works offline)."""
    return evaluate.load(GROUP_ACCURACY, keep_in_memory=True)


class DomainAccuracy:
    """``compute_metrics`` returning ``acc``, ``acc_class_<label>``, ``worst_class_acc``, ``worst_domain_acc``
    and ``acc_<domain>``, and with attribute names also ``acc_group_<group>``, ``worst_group_acc`` and
    ``group_mean_acc``.

    With a split named ``env0_in`` the keys become ``eval_env0_in_acc`` and so on. The domains come
    with the labels: ``SeedCatTrainer.prediction_step`` returns ``(labels, domains)`` when the
    evaluation data has the domain column, and ``(labels, domains, attributes)`` (attributes int64
    [N, A], one column per ``attribute_names`` entry) with ``attribute_columns``. A group is the label
    together with the attributes, named ``y=1,color_agrees=0``: worst-group accuracy over them is what
    group-robustness papers report (Waterbirds' bird x background). Without domains no domain keys; without
    attributes no group keys. The class keys need only the labels, so every split has them: worst-class
    accuracy is what a validation split without attribute labels can select by.

    ``expected_groups`` (``expected_group_names`` of every split's labels and attributes) names the groups
    that exist somewhere: one with no sample in the evaluated split gets ``acc_group_<group>`` NaN, is named
    in ``empty_groups`` (comma-joined) and left out of ``worst_group_acc`` and ``group_mean_acc``;
    ``groups_empty`` says whether that happened. Without it a missing group cannot be told from one that
    does not exist, and neither key is reported.
    """

    def __init__(
        self,
        domain_names: Sequence[str] | None = None,
        attribute_names: Sequence[str] | None = None,
        expected_groups: Sequence[str] | None = None,
    ) -> None:
        self.domain_names = list(domain_names) if domain_names is not None else None
        self.attribute_names = list(attribute_names or [])
        self.expected_groups = list(expected_groups) if expected_groups is not None else None
        self.metric = load_group_accuracy()

    def __call__(self, eval_pred: EvalPrediction) -> dict[str, float | bool | str]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        labels, domains, attributes = eval_pred.label_ids, None, None
        if isinstance(labels, tuple):
            labels, *rest = labels
            for part in rest:  # domains are one value per sample, attributes one row
                if np.ndim(part) == 2:
                    attributes = part
                else:
                    domains = part
        groups = group_names(labels, attributes, self.attribute_names) if attributes is not None else None
        result = self.metric.compute(
            predictions=np.argmax(logits, axis=-1),
            references=labels,
            domains=domains,
            groups=groups,
            domain_names=self.domain_names if domains is not None else None,
            group_names=self.expected_groups if groups is not None else None,
        )
        metrics = {"acc": result.pop("accuracy")}
        for kind in ("class", "domain", "group"):
            if f"worst_{kind}_accuracy" in result:
                metrics[f"worst_{kind}_acc"] = result.pop(f"worst_{kind}_accuracy")
        if "group_mean_accuracy" in result:
            metrics["group_mean_acc"] = result.pop("group_mean_accuracy")
        for key in ("groups_empty", "empty_groups"):
            if key in result:
                metrics[key] = result.pop(key)
        metrics.update({f"acc_{key.removeprefix('accuracy_')}": value for key, value in result.items()})
        return metrics


def split_attributes(split: Any, attribute_columns: Sequence[str]) -> np.ndarray:
    """A split's attribute values, int64 ``[N, A]`` in ``attribute_columns`` order, read from its raw columns
    (without the split's transform, which would decode images or tokenize text for nothing)."""
    raw = split.with_format(None) if hasattr(split, "with_format") else split
    return np.stack([np.asarray(raw[column]) for column in attribute_columns], axis=1)


def group_names(labels: np.ndarray, attributes: np.ndarray, attribute_names: Sequence[str]) -> list[str]:
    """Each sample's evaluation group, the label with its attributes: ``y=1,color_agrees=0``."""
    attributes = np.asarray(attributes).reshape(len(labels), -1)
    if attributes.shape[1] != len(attribute_names):
        raise ValueError(f"Got {attributes.shape[1]} attribute values per sample for names {list(attribute_names)}.")
    rows = np.concatenate([np.asarray(labels).reshape(-1, 1), attributes], axis=1).astype(np.int64)
    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    names = [
        ",".join([f"y={row[0]}", *(f"{name}={value}" for name, value in zip(attribute_names, row[1:], strict=True))])
        for row in unique.tolist()
    ]
    return [names[i] for i in np.asarray(inverse).reshape(-1)]


def expected_group_names(labels: np.ndarray, attributes: np.ndarray, attribute_names: Sequence[str]) -> list[str]:
    """Every group that occurs among these samples, sorted: pass the labels and attributes of every split
    (concatenated) as ``DomainAccuracy``'s ``expected_groups``, so a group missing from one split is named."""
    return sorted(set(group_names(labels, attributes, attribute_names)))
