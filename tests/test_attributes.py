"""Ground-truth attribute columns: kept by the MNIST datasets, never trained on, reported as group accuracy."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch
from helpers import make_domain_dataset, tiny_config, tiny_model
from transformers import EvalPrediction

from hf_seedcat import DomainAccuracy, SeedCatTrainer
from hf_seedcat.data_scripts import check_attribute_columns, load_domain_dataset, seed_hash, split_keys
from hf_seedcat.evaluation import ResultsJsonlCallback

ATTRIBUTES = ("digit", "label_flipped", "color", "color_agrees")


# The runs here log every step, at TrainingArguments' default learning rate.
_config = partial(tiny_config, logging_steps=1, learning_rate=5e-5)


def _with_attributes(seed: int = 0):
    """The same rows as ``make_domain_dataset`` plus ColoredMNIST-named attribute columns."""
    plain = make_domain_dataset({"a": 40, "b": 24, "c": 30}, seed=seed)
    rng = np.random.default_rng(1)
    n = len(plain)
    extra = {name: rng.integers(0, 2, n).astype(np.int64) for name in ATTRIBUTES}
    import datasets

    features = datasets.Features({**plain.features, **{k: datasets.Value("int64") for k in extra}})
    table = {**{k: plain.with_format("numpy")[k] for k in plain.column_names}, **extra}
    return plain, datasets.Dataset.from_dict(table, features=features).with_format("torch")


def _train(tmp_path, dataset, **overrides):
    """Train a few steps; also returns the keyword arguments of every forward call the model received."""
    model = tiny_model()
    seen_keys: list[set[str]] = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen_keys.append(set(kwargs)), with_kwargs=True)
    trainer = SeedCatTrainer(model=model, args=_config(tmp_path, **overrides), train_dataset=dataset)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return trainer, losses, seen_keys


# ------------------------------------------------------------------------------------------- datasets


def test_colored_mnist_keeps_the_draws_it_was_built_from(mnist_digits):
    colored = load_domain_dataset("ColoredMNIST", digits=mnist_digits, max_digits=6000)
    images, digits = mnist_digits
    shuffle = torch.randperm(70000, generator=torch.Generator().manual_seed(0))[:6000]
    for env_i, e in enumerate([0.1, 0.2, 0.9]):
        in_keys, out_keys = split_keys(2000, 0.2, seed_hash(0, env_i))
        for split, keys in ((colored.in_splits[env_i], in_keys), (colored.out_splits[env_i], out_keys)):
            rows = split[:]
            assert set(ATTRIBUTES) <= set(rows)
            ids = shuffle[env_i::3][keys]
            assert torch.equal(rows["digit"], digits[ids].long())
            assert torch.equal(rows["label_flipped"], (rows["labels"] != (rows["digit"] < 5).long()).long())
            carried = (rows["pixel_values"][:, 1].sum(dim=(1, 2)) > 0).long()  # colour c keeps channel c
            assert torch.equal(rows["color"], carried)
            assert torch.equal(rows["color_agrees"], (rows["color"] == rows["labels"]).long())
            disagree = 1 - rows["color_agrees"].float().mean().item()
            assert abs(disagree - e) < 0.05, (env_i, disagree)


def test_rotated_mnist_keeps_angle_and_digit(mnist_digits):
    rotated = load_domain_dataset("RotatedMNIST", digits=mnist_digits, max_digits=600)
    for env_i, angle in enumerate([0, 15, 30, 45, 60, 75]):
        rows = rotated.in_splits[env_i][:]
        assert (rows["angle"] == angle).all() and torch.equal(rows["digit"], rows["labels"])


# --------------------------------------------------------------------------------------- never trained


def test_training_with_and_without_attribute_columns_is_bit_identical(tmp_path):
    plain, with_columns = _with_attributes()
    reference, reference_losses, _ = _train(tmp_path / "plain", plain)
    runs = {
        "unnamed": _train(tmp_path / "unnamed", with_columns),
        "named": _train(tmp_path / "named", with_columns, attribute_columns=["color_agrees", "digit"]),
        "kept": _train(tmp_path / "kept", with_columns, remove_unused_columns=False),
    }
    for name, (trainer, losses, seen_keys) in runs.items():
        assert losses == reference_losses, name
        assert torch.equal(trainer.seed_categories.group_ids, reference.seed_categories.group_ids), name
        assert torch.equal(trainer.seed_categories.weights.q, reference.seed_categories.weights.q), name
        for key, value in reference.model.state_dict().items():
            assert torch.equal(value, trainer.model.state_dict()[key]), (name, key)
        assert seen_keys and all(keys == {"pixel_values"} for keys in seen_keys), name  # steps and regroups


def test_a_named_column_that_does_not_exist_is_named_with_the_available_ones(tmp_path):
    plain, _ = _with_attributes()
    with pytest.raises(ValueError, match=r"--attribute_columns.*'colour'.*\['pixel_values', 'labels', 'domain'\]"):
        check_attribute_columns(plain, {"env0_out": plain}, ["colour"])
    with pytest.raises(ValueError, match=r"--group_column.*'color_agrees'"):
        check_attribute_columns(plain, None, None, group_column="color_agrees")
    trainer = SeedCatTrainer(
        model=tiny_model(),
        args=_config(tmp_path, algorithm="groupdro", group_column="color_agrees"),
        train_dataset=plain,
    )
    with pytest.raises(ValueError, match=r"--group_column.*'color_agrees'"):
        trainer.train()  # the trainer reads the group column itself, and says the same
    with pytest.raises(ValueError, match="domain and labels"):
        _config(tmp_path, attribute_columns=["labels"])


# --------------------------------------------------------------------------------------- group accuracy


def test_group_accuracy_is_per_label_and_attribute_with_worst_and_mean():
    logits = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # predicts 0 1 1 0 1
    labels = np.array([0, 1, 0, 0, 1])
    domains = np.array([0, 0, 1, 1, 1])
    attributes = np.array([[1], [1], [0], [1], [0]])  # color_agrees
    metrics = DomainAccuracy(["a", "b"], ["color_agrees"])(EvalPrediction(logits, (labels, domains, attributes)))
    assert metrics["acc_group_y=0,color_agrees=1"] == 1.0  # samples 0 and 3
    assert metrics["acc_group_y=0,color_agrees=0"] == 0.0  # sample 2
    assert metrics["acc_group_y=1,color_agrees=1"] == 1.0 and metrics["acc_group_y=1,color_agrees=0"] == 1.0
    assert metrics["worst_group_acc"] == 0.0 and metrics["group_mean_acc"] == pytest.approx(0.75)
    assert metrics["acc"] == pytest.approx(0.8) and metrics["worst_domain_acc"] == pytest.approx(2 / 3)
    plain = DomainAccuracy(["a", "b"])(EvalPrediction(logits, (labels, domains)))
    assert not any("group" in key for key in plain)


def test_evaluation_reports_groups_and_results_jsonl_keeps_them(tmp_path):
    _, data = _with_attributes()
    splits = {"env0_out": data.select(range(40)), "env1_out": data.select(range(40, 94))}
    callback = ResultsJsonlCallback(str(tmp_path), list(splits), run_args={}, hparams={})
    config = _config(tmp_path, attribute_columns=["color_agrees"], max_steps=2, eval_strategy="steps", eval_steps=2)
    trainer = SeedCatTrainer(
        model=tiny_model(),
        args=config,
        train_dataset=data,
        eval_dataset=splits,
        compute_metrics=DomainAccuracy(["a", "b", "c"], ["color_agrees"]),
        callbacks=[callback],
    )
    trainer.train()
    (line,) = [json.loads(line) for line in open(tmp_path / "results.jsonl")]
    predictions = trainer.predict(splits["env1_out"]).predictions.argmax(-1)
    rows = splits["env1_out"].with_format("numpy")[:]
    correct = predictions == rows["labels"]
    per_group = {
        (y, c): correct[(rows["labels"] == y) & (rows["color_agrees"] == c)].mean() for y in (0, 1) for c in (0, 1)
    }
    assert line["env1_out_worst_group_acc"] == pytest.approx(min(per_group.values()))
    assert line["env1_out_group_mean_acc"] == pytest.approx(np.mean(list(per_group.values())))
    assert line["env1_out_acc_group_y=1,color_agrees=0"] == pytest.approx(per_group[(1, 0)])
    assert "env0_out_worst_group_acc" in line


def test_without_attribute_columns_nothing_is_reported_and_nothing_fails(tmp_path):
    plain, _ = _with_attributes()
    callback = ResultsJsonlCallback(str(tmp_path), ["env0_out"], run_args={}, hparams={})
    trainer = SeedCatTrainer(
        model=tiny_model(),
        args=_config(tmp_path, max_steps=2, eval_strategy="steps", eval_steps=2),
        train_dataset=plain,
        eval_dataset={"env0_out": plain},
        compute_metrics=DomainAccuracy(["a", "b", "c"]),
        callbacks=[callback],
    )
    trainer.train()
    (line,) = [json.loads(line) for line in open(tmp_path / "results.jsonl")]
    assert "env0_out_acc" in line and not any("group" in key for key in line)
    assert not (tmp_path / "group_composition.jsonl").exists()
