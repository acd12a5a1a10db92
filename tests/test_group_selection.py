"""Selection by groups (SubpopBench's two rules), split-based runs, worst-class accuracy, empty groups and the
worst-group table, on hand-made records and predictions with known answers."""

from __future__ import annotations

import csv
import json
import math
import random

import numpy as np
import pytest
from helpers import make_domain_dataset, tiny_config, tiny_model
from test_model_selection import record
from test_swing import _write_run
from transformers import EvalPrediction, TrainerControl, TrainerState

from hf_seedcat import SeedCatTrainer
from hf_seedcat.cli import collect
from hf_seedcat.evaluation import (
    GROUP_ACCURACY,
    SELECTION_METHODS,
    DomainAccuracy,
    ResultsJsonlCallback,
    RunKey,
    build_swing_tables,
    build_tables,
    build_worst_group_tables,
    choose_step,
    expected_group_names,
    group_runs,
    load_group_accuracy,
    read_results,
    select_trial,
    training_domain_validation,
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


# ----------------------------------------------------------------------------- selection: domains


def _domain_line(step, worst_groups, worst_classes, test, trial=0, hparams=0):
    """A Toy line with test environment 2: the training domains' out-split worst-group and worst-class
    accuracies, and the test environment's in-split (accuracy, worst-group accuracy)."""
    line = record(step, [2], trial=trial, hparams=hparams, e0o=0.5, e1o=0.5, e2i=test[0], e2o=0.99)
    for env, (group, klass) in enumerate(zip(worst_groups, worst_classes, strict=True)):
        line[f"env{env}_out_worst_group_acc"] = group
        line[f"env{env}_out_worst_class_acc"] = klass
    line.update(env2_in_worst_group_acc=test[1], env2_out_worst_group_acc=0.99, env2_out_worst_class_acc=0.99)
    return line


def _domain_run(**kwargs):
    # Minimum over the training domains, not their mean: by the mean, step 100 would win the worst group
    # (0.5) and step 200 the worst class (0.625).
    return [
        _domain_line(100, (0.9, 0.1), (0.5, 0.5), (0.30, 0.05), **kwargs),  # min group 0.1, min class 0.5
        _domain_line(200, (0.4, 0.4), (0.95, 0.3), (0.60, 0.35), **kwargs),  # min group 0.4, min class 0.3
        _domain_line(300, (0.6, 0.3), (0.6, 0.6), (0.50, 0.20), **kwargs),  # min group 0.3, min class 0.6
    ]


def _select(records, method, dataset="Toy", test_env=2, trial=0):
    return select_trial(group_runs(records), method, dataset, "erm", test_env, trial)


def test_val_worst_group_takes_the_worst_domain_group_cell_of_the_training_out_splits():
    chosen = _select(_domain_run(), "val_worst_group")
    assert (chosen.step, chosen.val_acc, chosen.test_acc, chosen.test_worst_group_acc) == (200, 0.4, 0.6, 0.35)
    assert chosen.test_groups_empty is False


def test_val_worst_class_takes_the_worst_domain_class_cell_of_the_training_out_splits():
    chosen = _select(_domain_run(), "val_worst_class")
    assert (chosen.step, chosen.val_acc, chosen.test_acc, chosen.test_worst_group_acc) == (300, 0.6, 0.5, 0.2)


def test_ties_go_to_the_earliest_step_and_hyperparameters_to_the_best_validation():
    tied = [
        _domain_line(300, (0.5, 0.5), (0.5, 0.5), (0.3, 0.3)),
        _domain_line(100, (0.5, 0.6), (0.5, 0.5), (0.1, 0.1)),
    ]
    assert _select(tied, "val_worst_group").step == 100
    samples = _domain_run(hparams=0) + [_domain_line(100, (0.7, 0.8), (0.1, 0.1), (0.9, 0.8), hparams=1)]
    by_group = _select(samples, "val_worst_group")
    assert (by_group.hparams_seed, by_group.step, by_group.test_acc) == (1, 100, 0.9)  # 0.7 beats 0.4
    by_class = _select(samples, "val_worst_class")
    assert (by_class.hparams_seed, by_class.step) == (0, 300)  # 0.6 beats 0.1


def test_steps_missing_a_value_are_never_picked_and_runs_without_attributes_select_nothing():
    run = _domain_run()
    del run[1]["env1_out_worst_group_acc"]  # step 200 now lacks one training domain's worst group
    assert _select(run, "val_worst_group").step == 300
    run[0]["env0_out_worst_group_acc"] = None  # as results.jsonl writes a NaN
    assert _select(run, "val_worst_group").step == 300
    plain = [record(100, [2], e0o=0.5, e1o=0.5, e2i=0.4, e2o=0.4)]
    assert _select(plain, "val_worst_group") is None and _select(plain, "val_worst_class") is None
    assert _select(plain, "training_domain").step == 100


# --------------------------------------------------------------------------- selection: split-based


def _split_line(step, validation, test, trial=0, hparams=0, dataset="Birds", **extra):
    """A split-based line: ``validation`` and ``test`` are (accuracy, worst-group, worst-class)."""
    line = {
        "step": step,
        "args": {
            "dataset": dataset,
            "algorithm": "erm",
            "test_envs": [],
            "split_based": True,
            "trial_seed": trial,
            "hparams_seed": hparams,
        },
    }
    for split, (acc, group, klass) in (("validation", validation), ("test", test)):
        line.update({f"{split}_acc": acc, f"{split}_worst_group_acc": group, f"{split}_worst_class_acc": klass})
    return {**line, **extra}


def _split_run(trial=0, hparams=0, test_at_200=(0.95, 0.45), **extra):
    """Validation picks 100 by accuracy, 200 by worst group, 300 by worst class; the test values would pick
    otherwise (worst group best at 100, accuracy best at 200), so a rule that read them would show. ``extra``:
    more keys at step 200."""
    return [
        _split_line(100, (0.90, 0.20, 0.60), (0.70, 0.60, 0.60), trial, hparams, ref_quantile_acc=0.1),
        _split_line(200, (0.80, 0.50, 0.70), (*test_at_200, 0.5), trial, hparams, ref_quantile_acc=0.2, **extra),
        _split_line(300, (0.85, 0.40, 0.75), (0.84, 0.35, 0.40), trial, hparams, ref_quantile_acc=0.3),
    ]


def test_split_based_runs_select_on_the_validation_split_and_report_the_test_split():
    expected = {  # method: (step, validation value, test accuracy, test worst-group accuracy)
        "training_domain": (100, 0.90, 0.70, 0.60),
        "val_worst_group": (200, 0.50, 0.95, 0.45),
        "val_worst_class": (300, 0.75, 0.84, 0.35),
        "reference_quantile": (300, 0.3, 0.84, 0.35),
    }
    for method, answer in expected.items():
        chosen = _select(_split_run(), method, dataset="Birds", test_env=None)
        assert (chosen.step, chosen.val_acc, chosen.test_acc, chosen.test_worst_group_acc) == answer, method
    for method in ("leave_one_out", "oracle", "reference_errors"):  # no environments, no logged value
        assert _select(_split_run(), method, dataset="Birds", test_env=None) is None
    assert training_domain_validation(_split_run(), [])["step"] == 100


class _Guarded(dict):
    """A results record whose forbidden keys raise when read (listing the keys is allowed)."""

    forbidden: tuple[str, ...] = ()

    def _check(self, key):
        if isinstance(key, str) and key.startswith(self.forbidden):
            raise AssertionError(f"selection read {key}")

    def __getitem__(self, key):
        self._check(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._check(key)
        return super().get(key, default)


def _guard(records, forbidden):
    guarded = []
    for line in records:
        line = _Guarded(line)
        line.forbidden = forbidden
        guarded.append(line)
    return guarded


def test_choosing_a_step_never_reads_a_test_key():
    # Split-based: every rule, every hyperparameter sample, with every test_* read raising.
    records = _guard(_split_run(hparams=0) + _split_run(hparams=1), ("test_",))
    runs = group_runs(records)
    for method in SELECTION_METHODS:
        for hparams in (0, 1):
            choose_step(runs, method, RunKey("Birds", "erm", (), 0, hparams))
    # And with the test keys gone altogether the choices stand.
    stripped = [{k: v for k, v in line.items() if not k.startswith("test_")} for line in _split_run()]
    key = RunKey("Birds", "erm", (), 0, 0)
    assert choose_step(group_runs(stripped), "val_worst_group", key).record["step"] == 200
    # Domains: no rule but the oracle reads the test environment (env2), in the single run or the held-out ones.
    held_out = [
        {**record(step, [0, 2], e0i=0.6, e1o=0.5), "env1_out_worst_group_acc": 0.3} for step in (100, 200, 300)
    ] + [{**record(step, [1, 2], e1i=0.7, e0o=0.5), "env0_out_worst_group_acc": 0.3} for step in (100, 200, 300)]
    runs = group_runs(_guard(_domain_run() + held_out, ("env2_",)))
    key = RunKey("Toy", "erm", (2,), 0, 0)
    chosen = {method: choose_step(runs, method, key) for method in SELECTION_METHODS if method != "oracle"}
    assert chosen["leave_one_out"] is not None and chosen["val_worst_group"].record["step"] == 200


def test_test_values_do_not_move_any_choice():
    runs = _split_run(hparams=0) + _split_run(hparams=1)
    shuffled = [dict(line) for line in runs]
    generator = random.Random(0)
    for line in shuffled:
        for key in [key for key in line if key.startswith("test_")]:
            line[key] = generator.random()
    for method in SELECTION_METHODS:
        before, after = (_select(lines, method, dataset="Birds", test_env=None) for lines in (runs, shuffled))
        assert (before is None) == (after is None), method
        if before is not None:
            assert (before.step, before.hparams_seed, before.val_acc) == (
                after.step,
                after.hparams_seed,
                after.val_acc,
            )


def test_domainbed_tables_and_the_window_leave_split_based_datasets_to_the_worst_group_table():
    records = _split_run() + [record(100, [2], e0o=0.5, e1o=0.5, e2i=0.4, e2o=0.4)]
    assert {table.dataset for table in build_tables(records)} == {"Toy"}
    assert {table.dataset for table in build_swing_tables(records)} == {"Toy"}
    assert [(table.dataset, table.split_based) for table in build_worst_group_tables(records)] == [
        ("Birds", True),
        ("Toy", False),
    ]


# ------------------------------------------------------------------------------------------- collect


def test_collect_prints_and_writes_the_worst_group_tables(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    _write_run(sweep / "birds0", _split_run(trial=0))
    flagged = {"test_groups_empty": True, "test_empty_groups": "y=1,spurious=0"}
    _write_run(sweep / "birds1", _split_run(trial=1, test_at_200=(0.75, 0.35), **flagged))
    _write_run(sweep / "toy0", _domain_run())
    _write_run(sweep / "plain0", [record(100, [1], e0o=0.5, e1i=0.4, e1o=0.4) | {"args": _plain_args()}])
    out = tmp_path / "tables"
    assert collect.main(["--input_dir", str(sweep), "--output_dir", str(out), "--window_after_step", "50"]) == 0
    printed = capsys.readouterr().out
    results = (out / "results.md").read_text()
    for text in (printed, results):
        assert "### Birds: worst-group and average test accuracy of each rule's selected step (split-based" in text
        assert "ddof = 1" in text.split("### Birds: worst-group")[1].splitlines()[0]
        # Trials pick step 200: worst group 0.45 and 0.35 (40.0 ± 5.0), accuracy 0.95 and 0.75 (85.0 ± 10.0);
        # trial 1's test split had an empty group.
        val_group = "| Validation worst-group accuracy (attributes known on validation) | erm |"
        assert f"{val_group} 40.0 ± 5.0 (n=2) † | 85.0 ± 10.0 (n=2) |" in text
        assert "| Test-domain validation (oracle) | erm | — | — |" in text
        assert "a split-based dataset has no test domain" in text
        assert "†: 1 of the selected steps had a group with no test sample" in text
        # Toy: per test environment; env2's column holds the picks, env0 and env1 were never test environments.
        assert f"{val_group} — | — | — | — | 35.0 (n=1) | 60.0 (n=1) |" in text
        assert "| Validation worst-class accuracy (attributes unknown) | erm | — | — | — | — | 20.0 (n=1) | " in text
        # Plain has no attribute columns: its worst-group column is a dash, its average is there.
        assert "| Training-domain validation | erm | — | — | — | 40.0 (n=1) |" in text
        assert "these runs have no attribute columns" in text
    assert "### Birds: Training-domain validation" not in printed  # no DomainBed table for a split-based dataset
    assert "### Toy: Validation worst-group accuracy (attributes known on validation)" in printed
    rows = list(csv.DictReader((out / "worst_group.csv").read_text().splitlines()))
    birds = {
        row["metric"]: row
        for row in rows
        if (row["dataset"], row["selection"], row["algorithm"]) == ("Birds", "val_worst_group", "erm")
    }
    assert birds["worst_group"]["test_env"] == "" and birds["worst_group"]["environment"] == "test"
    assert (birds["worst_group"]["mean"], birds["worst_group"]["stderr"], birds["worst_group"]["trials"]) == (
        "40.0000",
        "5.0000",
        "2",
    )
    assert birds["worst_group"]["empty_group_trials"] == "1" and birds["average"]["mean"] == "85.0000"
    assert "Toy,val_worst_group,erm,2,env2,worst_group,35.0000,,1,0" in (out / "worst_group.csv").read_text()
    results_csv = (out / "results.csv").read_text()
    assert results_csv.splitlines()[0] == "dataset,selection,algorithm,test_env,environment,mean,stderr,trials"
    assert "Birds" not in results_csv


def _plain_args():
    return {"dataset": "Plain", "algorithm": "erm", "test_envs": [1], "trial_seed": 0, "hparams_seed": 0}
