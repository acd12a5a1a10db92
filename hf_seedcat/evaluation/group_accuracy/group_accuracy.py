"""Group accuracy: overall, per-domain, worst-domain and (optionally) per-group accuracy in one dict.

A local ``evaluate`` module, so ``evaluate.load(<this folder>)`` works without the Hub. Like WILDS'
evaluation, it reports the average and the worst group side by side, because a domain-robust model is
judged by its worst domain as much as by its mean.
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Accuracy overall, per domain and per group, with the worst domain's and worst group's accuracy."

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted labels.
    references (list of int): true labels.
    domains (list of int or str, optional): each sample's domain.
    groups (list of int or str, optional): each sample's group (e.g. seed category).
    domain_names (list of str, optional): names for integer domain ids, used in the output keys.
Returns:
    accuracy: over all samples.
    accuracy_<domain>, worst_domain_accuracy: when domains are given.
    accuracy_group_<group>, worst_group_accuracy, group_mean_accuracy: when groups are given (the mean
        over groups weighs every group equally, however small).
Examples:
    >>> metric = evaluate.load("hf_seedcat/evaluation/group_accuracy")
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0], domains=[0, 0, 1], domain_names=["a", "b"])
    {'accuracy': 0.6666666666666666, 'accuracy_a': 1.0, 'accuracy_b': 0.0, 'worst_domain_accuracy': 0.0}
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

    def _compute(self, predictions, references, domains=None, groups=None, domain_names=None) -> dict[str, float]:
        correct = np.asarray(predictions) == np.asarray(references)
        result = {"accuracy": float(correct.mean())}
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
            result.update({f"{prefix}{key}": acc for key, acc in per_key.items()})
            result[f"worst_{kind}_accuracy"] = min(per_key.values())
            if kind == "group":
                result["group_mean_accuracy"] = float(np.mean(list(per_key.values())))
        return result
