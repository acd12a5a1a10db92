"""The local evaluate module: overall, per-class, per-domain, worst-domain and per-group accuracy, and its Trainer
use (worst-class and empty groups in detail: test_group_selection.py)."""

from __future__ import annotations

import evaluate
import numpy as np
import pytest
from helpers import make_domain_dataset, tiny_model
from transformers import EvalPrediction

from hf_seedcat import SeedCatConfig, SeedCatTrainer
from hf_seedcat.evaluation import GROUP_ACCURACY, DomainAccuracy


def test_evaluate_load_of_the_shipped_module_reports_every_domain_and_the_worst():
    metric = evaluate.load(GROUP_ACCURACY)
    result = metric.compute(
        predictions=[0, 1, 1, 0, 1, 1],
        references=[0, 1, 0, 0, 0, 1],
        domains=[0, 0, 1, 1, 2, 2],
        groups=["a", "a", "a", "b", "b", "b"],
        domain_names=["x", "y", "z"],
    )
    assert result == pytest.approx(
        {
            "accuracy": 4 / 6,
            "accuracy_class_0": 0.5,  # references 0 at samples 0, 2, 3, 4: predicted 0, 1, 0, 1
            "accuracy_class_1": 1.0,
            "worst_class_accuracy": 0.5,
            "accuracy_x": 1.0,
            "accuracy_y": 0.5,
            "accuracy_z": 0.5,
            "worst_domain_accuracy": 0.5,
            "accuracy_group_a": 2 / 3,
            "accuracy_group_b": 2 / 3,
            "worst_group_accuracy": 2 / 3,
            "group_mean_accuracy": 2 / 3,
        }
    )
    with pytest.raises(ValueError, match="2 domains for 3 predictions"):
        metric.compute(predictions=[0, 1, 1], references=[0, 1, 1], domains=[0, 1])


def test_compute_metrics_reads_domains_beside_the_labels():
    logits = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    metrics = DomainAccuracy(["a", "b"])(EvalPrediction(logits, (np.array([0, 1, 0]), np.array([0, 0, 1]))))
    classes = {"acc_class_0": 0.5, "acc_class_1": 1.0, "worst_class_acc": 0.5}  # labels only, always there
    assert metrics == {"acc": 2 / 3, "worst_domain_acc": 0.0, "acc_a": 1.0, "acc_b": 0.0, **classes}
    assert DomainAccuracy()(EvalPrediction(logits, np.array([0, 1, 0]))) == {"acc": 2 / 3, **classes}


def test_trainer_evaluation_reports_per_domain_accuracy(tmp_path):
    data = make_domain_dataset({"a": 40, "b": 24})
    model = tiny_model()
    args = SeedCatConfig(
        output_dir=str(tmp_path), per_device_eval_batch_size=16, report_to="none", use_cpu=True, disable_tqdm=True
    )
    trainer = SeedCatTrainer(
        model=model, args=args, train_dataset=data, eval_dataset=data, compute_metrics=DomainAccuracy(["a", "b"])
    )
    metrics = trainer.evaluate()
    predictions = trainer.predict(data).predictions.argmax(-1)
    correct = predictions == np.asarray(data["labels"])
    domain = np.asarray(data["domain"])
    assert metrics["eval_acc"] == pytest.approx(correct.mean())
    assert metrics["eval_acc_a"] == pytest.approx(correct[domain == 0].mean())
    assert metrics["eval_acc_b"] == pytest.approx(correct[domain == 1].mean())
    assert metrics["eval_worst_domain_acc"] == min(metrics["eval_acc_a"], metrics["eval_acc_b"])
