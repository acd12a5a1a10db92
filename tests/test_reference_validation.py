"""The label-free selection rule: which rows it fixes, what it logs, and what it never reads."""

from __future__ import annotations

import json
import math

import datasets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import make_domain_dataset, tiny_config, tiny_model
from safetensors.torch import load_file
from test_model_selection import record

from hf_seedcat import SeedCatTrainer
from hf_seedcat.cli import collect
from hf_seedcat.evaluation import (
    SELECTION_METHODS,
    DomainAccuracy,
    ReferenceValidation,
    ResultsJsonlCallback,
    check_rules,
    group_runs,
    read_results,
    reference_split_names,
    rule_check_markdown,
    select_trial,
)
from hf_seedcat.evaluation.reference_validation import REFERENCE_FILE, hard_rows

TEST_ENVS = [2]


def test_hard_rows_are_the_top_loss_quantile_and_the_misclassified_rows():
    losses = np.array([0.1, 2.0, 0.3, 2.0, 0.05, 1.5, 0.2])
    predictions = np.array([0, 1, 0, 0, 0, 1, 1])
    labels = np.array([0, 0, 0, 1, 0, 0, 1])
    rows = hard_rows(losses, predictions, labels, quantiles=4)
    assert rows["ref_quantile_acc"] == [1, 3]  # ceil(7 / 4) = 2 rows: the two losses of 2.0
    assert rows["ref_error_acc"] == [1, 3, 5]
    assert hard_rows(losses, predictions, labels, quantiles=1)["ref_quantile_acc"] == list(range(7))
    with pytest.raises(ValueError, match="reference_quantiles must be a positive integer"):
        hard_rows(losses, predictions, labels, quantiles=0)


def test_only_training_environments_out_splits_are_read():
    names = ["env0_in", "env0_out", "env1_in", "env1_out", "env2_in", "env2_out"]
    assert reference_split_names(names, [2]) == ["env0_out", "env1_out"]
    assert reference_split_names(names, [0, 1]) == ["env2_out"]


def _splits(attribute: bool = True, flip_test_labels: bool = False) -> tuple[datasets.Dataset, dict]:
    """Three domains; train on the first 40 rows of a and b, validate on their last 20, test on c."""
    spurious = (np.arange(180) % 3 == 0).astype(np.float32)
    data = make_domain_dataset({"a": 60, "b": 60, "c": 60}, **({"spurious": spurious} if attribute else {}))
    train = data.select([*range(40), *range(60, 100)])
    test_in, test_out = data.select(range(120, 160)), data.select(range(160, 180))
    if flip_test_labels:
        test_in, test_out = (
            split.map(lambda row: {"labels": 1 - row["labels"]}).with_format("torch") for split in (test_in, test_out)
        )
    evaluation = {
        "env0_out": data.select(range(40, 60)),
        "env1_out": data.select(range(100, 120)),
        "env2_in": test_in,
        "env2_out": test_out,
    }
    return train, evaluation


def _train(output_dir, attribute: bool = True, flip_test_labels: bool = False, resume: str | None = None):
    train, evaluation = _splits(attribute, flip_test_labels)
    config = tiny_config(
        output_dir,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="steps",
        save_steps=2,
        attribute_columns=["spurious"] if attribute else None,
    )
    names = reference_split_names(list(evaluation), TEST_ENVS)
    reference = ReferenceValidation({name: evaluation[name] for name in names}, str(output_dir), reference_step=2)
    results = ResultsJsonlCallback(
        str(output_dir), list(evaluation), run_args={}, hparams={}, extra_metrics=[reference.metrics]
    )
    trainer = SeedCatTrainer(
        model=tiny_model(),
        args=config,
        train_dataset=train,
        eval_dataset=evaluation,
        compute_metrics=DomainAccuracy(["a", "b", "c"], config.attribute_columns),
        callbacks=[results],
    )
    reference.attach(trainer)
    trainer.train(resume_from_checkpoint=resume)
    return trainer, read_results(str(output_dir))


def _rule_values(records):
    return [{key: value for key, value in record.items() if "ref_" in key} for record in records]


def test_the_rows_are_the_reference_checkpoints_hard_rows_and_later_steps_are_scored_on_them(tmp_path):
    trainer, records = _train(tmp_path)
    assert [record["step"] for record in records] == [2, 4, 6]
    assert all(record["ref_step"] == 2 for record in records)
    saved = json.loads((tmp_path / REFERENCE_FILE).read_text())
    _, evaluation = _splits()
    # Independently: the step-2 checkpoint's own losses and predictions on each training domain's out split.
    reference_model = tiny_model()
    reference_model.load_state_dict(load_file(str(tmp_path / "checkpoint-2" / "model.safetensors")))
    reference_model.eval()
    final_model = trainer.model.eval()
    for name in ("env0_out", "env1_out"):
        split = evaluation[name][:]  # every row, as tensors
        with torch.no_grad():
            logits = reference_model(pixel_values=split["pixel_values"]).logits
            final = final_model(pixel_values=split["pixel_values"]).logits.argmax(-1)
        losses = F.cross_entropy(logits, split["labels"], reduction="none")
        hardest = sorted(torch.topk(losses, math.ceil(len(losses) / 4)).indices.tolist())
        errors = torch.nonzero(logits.argmax(-1) != split["labels"]).flatten().tolist()
        assert saved["rows"][name] == {"ref_quantile_acc": hardest, "ref_error_acc": errors}
        correct = (final == split["labels"]).float()
        assert records[-1][f"{name}_ref_quantile_acc"] == pytest.approx(correct[hardest].mean().item())
        if errors:
            assert records[-1][f"{name}_ref_error_acc"] == pytest.approx(correct[errors].mean().item())
            assert records[0][f"{name}_ref_error_acc"] == 0.0  # the reference gets its own errors wrong
    quantile = [records[-1][f"{name}_ref_quantile_acc"] for name in ("env0_out", "env1_out")]
    assert records[-1]["ref_quantile_acc"] == pytest.approx(sum(quantile) / 2)


def test_it_reads_neither_attribute_columns_nor_the_test_environments_labels(tmp_path):
    _, with_attributes = _train(tmp_path / "attributes")
    _, without = _train(tmp_path / "none", attribute=False)
    _, flipped = _train(tmp_path / "flipped", flip_test_labels=True)
    assert "env0_out_worst_group_acc" in with_attributes[-1] and "env0_out_worst_group_acc" not in without[-1]
    assert _rule_values(with_attributes) == _rule_values(without) == _rule_values(flipped)
    # The flip did reach what does read the test labels:
    assert [r["env2_in_acc"] for r in flipped] == pytest.approx([1 - r["env2_in_acc"] for r in with_attributes])


def test_a_resumed_run_keeps_its_reference_rows(tmp_path):
    _, uninterrupted = _train(tmp_path / "whole")
    rows = (tmp_path / "whole" / REFERENCE_FILE).read_text()
    _train(tmp_path / "resumed")
    (tmp_path / "resumed" / "checkpoint-6").rename(tmp_path / "unused")  # as if killed after checkpoint 4
    _, resumed = _train(tmp_path / "resumed", resume=str(tmp_path / "resumed" / "checkpoint-4"))
    assert (tmp_path / "resumed" / REFERENCE_FILE).read_text() == rows
    assert _rule_values(resumed) == _rule_values(uninterrupted)


def test_selection_picks_the_best_logged_step_and_nothing_before_the_reference():
    def line(step, rule, test):
        values = {"ref_quantile_acc": rule, "ref_error_acc": rule} if rule is not None else {}
        return {**record(step, [2], e2i=test), **values}

    runs = group_runs([line(100, None, 0.9), line(200, 0.3, 0.1), line(300, 0.6, 0.4), line(400, 0.6, 0.2)])
    for method in ("reference_quantile", "reference_errors"):
        chosen = select_trial(runs, method, "Toy", "erm", 2, 0)
        assert (chosen.step, chosen.val_acc, chosen.test_acc) == (300, 0.6, 0.4)  # first of the tie
        assert "Label-free" in SELECTION_METHODS[method][0]
    old = group_runs([line(100, None, 0.9)])
    assert select_trial(old, "reference_errors", "Toy", "erm", 2, 0) is None


def test_bad_settings_are_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match="reference_step must be a step number"):
        ReferenceValidation({}, str(tmp_path), reference_step=-1)
    with pytest.raises(ValueError, match="reference_quantiles must be a positive integer"):
        ReferenceValidation({}, str(tmp_path), quantiles=0)


def _checked_run(steps, quantile, errors, worst0, worst1, test):
    """A run's lines with the rules' values, training-domain worst-group accuracies and test accuracy."""
    lines = []
    for i, step in enumerate(steps):
        line = record(step, [2], e0o=0.9, e1o=0.8, e2i=test[i], e2o=test[i])
        line.update(env0_out_worst_group_acc=worst0[i], env1_out_worst_group_acc=worst1[i])
        if quantile[i] is not None:
            line.update(ref_quantile_acc=quantile[i], ref_error_acc=errors[i], ref_step=steps[1])
        lines.append(line)
    return lines


def test_the_check_correlates_each_rule_with_validation_worst_group_accuracy_it_never_read(tmp_path, capsys):
    # Worst-group (the lower of the two domains): 0.1, 0.2, 0.4, 0.3 over the steps with the rules' values.
    lines = _checked_run(
        steps=[50, 100, 150, 200, 250],
        quantile=[None, 0.1, 0.2, 0.3, 0.4],  # ranks 1 2 3 4 against worst-group ranks 1 2 4 3
        errors=[None, 0.4, 0.3, 0.2, 0.1],  # exactly reversed ranks of the first
        worst0=[0.9, 0.1, 0.2, 0.4, 0.3],
        worst1=[0.9, 0.2, 0.3, 0.5, 0.5],
        test=[0.1, 0.2, 0.3, 0.5, 0.4],
    )
    (check,) = check_rules(lines)
    # Spearman by hand: 1 - 6 * sum(d^2) / (n (n^2 - 1)), d = (0, 0, 1, 1): 1 - 12 / 60 = 0.8; reversed: -0.8.
    assert check.checkpoints == 4
    assert check.correlations == {"ref_quantile_acc": pytest.approx(0.8), "ref_error_acc": pytest.approx(-0.8)}
    assert check.picks["reference_quantile"] == (250, 0.4) and check.picks["reference_errors"] == (100, 0.2)
    assert check.picks["oracle"] == (250, 0.4) and check.picks["training_domain"] == (50, 0.1)
    text = rule_check_markdown([check])
    assert (
        "| Label-free: validation rows in a fixed early model's hardest loss quantile | 0.80 | 0.80 to 0.80 | 1 |"
        in (text)
    )
    assert "| erm test 2 trial 0 hp 0 | 4 | 0.80 | -0.80 | 50: 10.0 |" in text
    # Runs without attributes (or older than the rules) are not checked.
    for line in lines:
        del line["env0_out_worst_group_acc"]
    assert check_rules(lines) == [] and rule_check_markdown([]) == ""


def test_collect_prints_the_label_free_tables_and_the_check(tmp_path, capsys):
    lines = _checked_run(
        [50, 100, 150], [None, 0.2, 0.6], [None, 0.1, 0.5], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0.1, 0.6, 0.3]
    )
    run = tmp_path / "sweep" / "erm_trial0"
    run.mkdir(parents=True)
    (run / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (run / "done").touch()
    assert collect.main(["--input_dir", str(tmp_path / "sweep"), "--window_after_step", "50"]) == 0
    printed = capsys.readouterr().out
    assert "### Toy: Label-free: validation rows a fixed early model misclassified" in printed
    assert "Label-free rules against validation worst-group accuracy" in printed
    assert "| erm test 2 trial 0 hp 0 | 2 | 1.00 | 1.00 |" in printed
