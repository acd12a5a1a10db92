"""Worst-class accuracy and empty groups, on hand-made predictions with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import make_domain_dataset, tiny_config, tiny_model
from transformers import EvalPrediction, TrainerControl, TrainerState

from hf_seedcat import SeedCatTrainer
from hf_seedcat.evaluation import (
    GROUP_ACCURACY,
    DomainAccuracy,
    ResultsJsonlCallback,
    expected_group_names,
    load_group_accuracy,
    read_results,
)

# --------------------------------------------------------------------------------------------- metrics


def test_worst_class_accuracy_needs_only_the_labels():
    # Three classes; predictions right for 3 of 4 class-0 rows, 1 of 2 class-1 rows, 0 of 1 class-2 row.
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 0, 1, 1, 0, 1])
    logits = np.eye(3)[predicted]
    metrics = DomainAccuracy()(EvalPrediction(logits, labels))
    assert metrics == pytest.approx(
        {"acc": 4 / 7, "acc_class_0": 0.75, "acc_class_1": 0.5, "acc_class_2": 0.0, "worst_class_acc": 0.0}
    )
    # A class absent from the split has no key and does not enter the minimum.
    absent = DomainAccuracy()(EvalPrediction(logits[:6], labels[:6]))
    assert "acc_class_2" not in absent and absent["worst_class_acc"] == 0.5
    # The evaluate module says the same, with its own names.
    result = load_group_accuracy().compute(predictions=predicted, references=labels)
    assert result["worst_class_accuracy"] == 0.0 and result["accuracy_class_0"] == 0.75


def test_a_group_missing_from_the_split_is_nan_named_flagged_and_left_out_of_the_worst():
    # Every split together holds four groups; this one lacks y=1,spurious=0.
    everywhere = expected_group_names(np.array([0, 0, 1, 1]), np.array([[0], [1], [0], [1]]), ["spurious"])
    assert everywhere == ["y=0,spurious=0", "y=0,spurious=1", "y=1,spurious=0", "y=1,spurious=1"]
    labels = np.array([0, 0, 0, 1, 1])
    attributes = np.array([[0], [0], [1], [1], [1]])
    logits = np.eye(2)[[0, 1, 1, 1, 0]]  # y=0,s=0: 1 of 2; y=0,s=1: 0 of 1; y=1,s=1: 1 of 2
    metric = DomainAccuracy(attribute_names=["spurious"], expected_groups=everywhere)
    metrics = metric(EvalPrediction(logits, (labels, attributes)))
    assert math.isnan(metrics["acc_group_y=1,spurious=0"])
    assert metrics["empty_groups"] == "y=1,spurious=0" and metrics["groups_empty"] is True
    assert metrics["worst_group_acc"] == 0.0  # over the three groups with rows, not NaN
    assert metrics["group_mean_acc"] == pytest.approx((0.5 + 0.0 + 0.5) / 3)
    # Every expected group present: the flag says so and nothing is named.
    full = metric(EvalPrediction(np.eye(2)[[0, 1, 1, 0]], (np.array([0, 0, 1, 1]), np.array([[0], [1], [0], [1]]))))
    assert full["groups_empty"] is False and "empty_groups" not in full
    assert not any(math.isnan(value) for key, value in full.items() if key.startswith("acc_group_"))
    # Without the expected names a missing group cannot be known: no flag, and the keys of before.
    unknown = DomainAccuracy(attribute_names=["spurious"])(EvalPrediction(logits, (labels, attributes)))
    assert "groups_empty" not in unknown and "acc_group_y=1,spurious=0" not in unknown
    assert unknown["worst_group_acc"] == 0.0
    evaluate_module = load_group_accuracy().compute(
        predictions=[0, 1], references=[0, 1], groups=["a", "b"], group_names=["a", "b", "c"]
    )
    assert evaluate_module["empty_groups"] == "c" and math.isnan(evaluate_module["accuracy_group_c"])
    assert GROUP_ACCURACY.endswith("group_accuracy")


def test_results_jsonl_of_a_split_based_run_holds_class_group_and_empty_keys_as_valid_json(tmp_path):
    callback = ResultsJsonlCallback(str(tmp_path), ["validation", "test"], run_args={"split_based": True}, hparams={})
    state, control = TrainerState(global_step=10, epoch=1.0), TrainerControl()
    split_metrics = {
        "validation": {"acc": 0.9, "worst_group_acc": 0.5, "worst_class_acc": 0.7, "acc_class_0": 0.7},
        "test": {
            "acc": 0.8,
            "worst_group_acc": 0.4,
            "worst_class_acc": 0.6,
            "acc_group_y=1,spurious=0": math.nan,
            "groups_empty": True,
            "empty_groups": "y=1,spurious=0",
            "acc_a": 0.1,  # a domain's accuracy: not a split key, not written
        },
    }
    for split, values in split_metrics.items():
        metrics = {f"eval_{split}_{key}": value for key, value in values.items()}
        callback.on_evaluate(None, state, control, metrics=metrics)
    text = (tmp_path / "results.jsonl").read_text()

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    (line,) = [json.loads(row, parse_constant=refuse) for row in text.splitlines()]
    assert line["validation_worst_group_acc"] == 0.5 and line["validation_worst_class_acc"] == 0.7
    assert line["validation_acc_class_0"] == 0.7 and line["test_worst_class_acc"] == 0.6
    assert line["test_acc_group_y=1,spurious=0"] is None  # NaN written as null
    assert line["test_groups_empty"] is True and line["test_empty_groups"] == "y=1,spurious=0"
    assert "test_acc_a" not in line and line["args"] == {"split_based": True}


def test_a_trainer_evaluation_with_expected_groups_writes_the_empty_group_to_results_jsonl(tmp_path):
    spurious = np.random.default_rng(1).integers(0, 2, 120).astype(np.float32)  # seed 0 would copy the labels
    data = make_domain_dataset({"a": 120}, spurious=spurious)
    rows = data.with_format("numpy")[:]
    labels, attributes = rows["labels"], rows["spurious"].astype(np.int64).reshape(-1, 1)
    expected = expected_group_names(labels, attributes, ["spurious"])
    assert len(expected) == 4
    missing = "y=1,spurious=0"
    keep = [i for i in range(60, 120) if not (labels[i] == 1 and attributes[i, 0] == 0)]
    splits = {"validation": data.select(range(60)), "test": data.select(keep)}
    callback = ResultsJsonlCallback(str(tmp_path), list(splits), run_args={}, hparams={})
    trainer = SeedCatTrainer(
        model=tiny_model(),
        args=tiny_config(tmp_path, attribute_columns=["spurious"]),
        train_dataset=data,
        eval_dataset=splits,
        compute_metrics=DomainAccuracy(["a"], ["spurious"], expected_groups=expected),
        callbacks=[callback],
    )
    trainer.evaluate()
    (line,) = read_results(str(tmp_path))
    assert line["test_groups_empty"] is True and line["test_empty_groups"] == missing
    assert line[f"test_acc_group_{missing}"] is None
    present = [line[f"test_acc_group_{name}"] for name in expected if name != missing]
    assert line["test_worst_group_acc"] == pytest.approx(min(present))
    assert line["validation_groups_empty"] is False and "validation_empty_groups" not in line
    predictions = trainer.predict(splits["test"]).predictions.argmax(-1)
    test_labels = np.asarray(splits["test"]["labels"])
    worst_class = min((predictions == test_labels)[test_labels == c].mean() for c in np.unique(test_labels))
    assert line["test_worst_class_acc"] == pytest.approx(worst_class)
