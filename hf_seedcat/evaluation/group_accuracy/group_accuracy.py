"""Group accuracy: overall, per-class, per-domain, worst-domain and (optionally) per-group accuracy in one dict.

A local ``evaluate`` module, so ``evaluate.load(<this folder>)`` works without the Hub. Like WILDS'
evaluation, it reports the average and the worst group side by side, because a domain-robust model is
judged by its worst domain as much as by its mean. The worst class needs nothing but the labels, so it is
always there: it is what a validation split without attribute labels can still say about the worst group.
"""

from __future__ import annotations

import math

import datasets
import evaluate
import numpy as np

_DESCRIPTION = (
    "Accuracy overall, per class, per domain and per group, with the worst class's, worst domain's and worst "
    "group's accuracy."
)

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted labels.
    references (list of int): true labels.
    domains (list of int or str, optional): each sample's domain.
    groups (list of int or str, optional): each sample's group (e.g. seed category).
    domain_names (list of str, optional): names for integer domain ids, used in the output keys.
    group_names (list of str, optional): every group there is, also those with no sample here (known from
        the other splits); only read with ``groups``.
Returns:
    accuracy: over all samples.
    accuracy_class_<label>, worst_class_accuracy: always, over the classes present in ``references``.
    accuracy_<domain>, worst_domain_accuracy: when domains are given.
    accuracy_group_<group>, worst_group_accuracy, group_mean_accuracy: when groups are given (the mean
        over groups weighs every group equally, however small).
    groups_empty: with ``group_names``, whether any of them has no sample here; each such group's accuracy
        is NaN, ``empty_groups`` names them (comma-joined, sorted) and the worst and mean are over the rest.
Examples:
    >>> metric = evaluate.load("hf_seedcat/evaluation/group_accuracy")
    >>> result = metric.compute(predictions=[0, 1, 1], references=[0, 1, 0], domains=[0, 0, 1], domain_names="ab")
    >>> result["accuracy"], result["worst_class_accuracy"], result["accuracy_b"], result["worst_domain_accuracy"]
    (0.6666666666666666, 0.5, 0.0, 0.0)
"""

_CITATION = """\
@misc{mei_pattern_imbalance,
  title  = {Exploring and Utilizing Pattern Imbalance},
  author = {Mei, Shibin and Zhao, Chenglong and Yuan, Shengchao and Ni, Bingbing},
  note   = {Shanghai Jiao Tong University}
}
"""  # as on the paper's first page (and in hf_seedcat.hub's model card)


def _per_key_accuracy(correct: np.ndarray, keys: np.ndarray) -> dict[str, float]:
    return {str(key): float(correct[keys == key].mean()) for key in np.unique(keys)}


class GroupAccuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(
        self, predictions, references, domains=None, groups=None, domain_names=None, group_names=None
    ) -> dict[str, float | bool | str]:
        references = np.asarray(references)
        correct = np.asarray(predictions) == references
        result: dict[str, float | bool | str] = {"accuracy": float(correct.mean())}
        per_class = _per_key_accuracy(correct, references)
        result.update({f"accuracy_class_{label}": acc for label, acc in per_class.items()})
        result["worst_class_accuracy"] = min(per_class.values())
        for kind, keys in (("domain", domains), ("group", groups)):
            if keys is None:
                continue
            keys = np.asarray(keys)
            if len(keys) != len(correct):
                raise ValueError(f"{len(keys)} {kind}s for {len(correct)} predictions.")
            per_key = _per_key_accuracy(correct, keys)
            if kind == "domain" and domain_names is not None:
                per_key = {domain_names[int(key)]: acc for key, acc in per_key.items()}
            prefix = "accuracy_" if kind == "domain" else "accuracy_group_"
            empty = sorted(set(map(str, group_names or [])) - set(per_key)) if kind == "group" else []
            result.update({f"{prefix}{key}": acc for key, acc in per_key.items()})
            result.update({f"{prefix}{key}": math.nan for key in empty})
            result[f"worst_{kind}_accuracy"] = min(per_key.values())  # over the groups with samples
            if kind == "group":
                result["group_mean_accuracy"] = float(np.mean(list(per_key.values())))
                if group_names is not None:
                    result["groups_empty"] = bool(empty)
                if empty:
                    result["empty_groups"] = ",".join(empty)
        return result
