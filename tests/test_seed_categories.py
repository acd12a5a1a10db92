"""SeedCategories on its own: ERM, GroupDRO and seedcat built from a config and driven without a Trainer."""

from __future__ import annotations

import ast
import inspect

import pytest
import torch
from helpers import make_domain_dataset

import hf_seedcat.trainer as trainer_module
from hf_seedcat import SeedCatConfig, SeedCategories


def _config(tmp_path, **overrides) -> SeedCatConfig:
    settings = dict(output_dir=str(tmp_path), groups_per_domain=2, regroup_steps=3, dro_eta=0.5, report_to="none")
    settings.update(overrides)
    return SeedCatConfig(**settings)


def _scorer(losses: torch.Tensor):
    """A regroup pass that returns fixed losses and records what it was asked for."""
    calls = []

    def score(indices, with_features):
        calls.append((indices, with_features))
        return losses.clone(), None

    score.calls = calls
    return score


@pytest.fixture
def dataset():
    return make_domain_dataset({"a": 8, "b": 6})


def test_seedcat_splits_every_domain_by_loss_and_weights_the_groups(tmp_path, dataset):
    categories = SeedCategories.from_config(_config(tmp_path))
    categories.ensure_units(dataset)
    losses = torch.arange(14, dtype=torch.float32).flip(0)  # sample 0 has the highest loss
    score = _scorer(losses)
    assert categories.regroup(0, score)
    assert score.calls == [(None, False)]
    assert categories.group_names == ["a:0", "a:1", "b:0", "b:1"]
    # Within each domain the higher-loss half is category 1.
    assert categories.group_ids.tolist() == [1] * 4 + [0] * 4 + [3] * 3 + [2] * 3
    assert torch.equal(categories.weights.q, torch.full((4,), 0.25))

    per_sample = torch.tensor([1.0, 3.0, 2.0, 6.0], requires_grad=True)
    groups = torch.tensor([0, 1, 1, 3])
    loss = categories.objective(per_sample, groups)
    group_losses = torch.tensor([1.0, 2.5, 0.0, 6.0])  # group 2 has no sample: its weight only renormalises
    q = torch.full((4,), 0.25) * torch.exp(0.5 * group_losses)
    q = q / q.sum()
    assert torch.allclose(categories.weights.q, q)
    assert torch.allclose(loss, (q * group_losses).sum())
    loss.backward()
    assert per_sample.grad.tolist() == pytest.approx([q[0].item(), q[1].item() / 2, q[1].item() / 2, q[3].item()])

    metrics = categories.metrics()
    assert metrics["q/a:0"] == pytest.approx(q[0].item(), abs=1e-6)
    assert metrics["group_loss/b:1"] == pytest.approx(6.0)
    assert metrics["group_size/a:1"] == 4 and "regroup_seconds" in metrics


def test_groupdro_groups_the_domains_once_and_keeps_q(tmp_path, dataset):
    categories = SeedCategories.from_config(_config(tmp_path, algorithm="groupdro"))
    categories.ensure_units(dataset)
    score = _scorer(torch.zeros(14))
    assert categories.regroup(0, score)
    assert score.calls == []  # domains need no scoring pass
    assert categories.group_names == ["a", "b"]
    categories.objective(torch.tensor([1.0, 2.0]), torch.tensor([0, 1]))
    q = categories.weights.q.clone()
    assert not categories.regroup(3, score)  # static: nothing to recompute, q kept (GroupDRO)
    assert torch.equal(categories.weights.q, q)
    metrics = categories.metrics()
    assert metrics["q/b"] > metrics["q/a"]  # the domain with the higher loss gained weight


def test_erm_back_propagates_the_plain_mean_but_measures_every_group(tmp_path, dataset):
    categories = SeedCategories.from_config(_config(tmp_path, algorithm="erm"))
    categories.ensure_units(dataset)
    categories.regroup(0, _scorer(torch.zeros(14)))
    per_sample = torch.tensor([1.0, 2.0, 6.0])
    loss = categories.objective(per_sample, torch.tensor([0, 1, 1]))
    assert loss.item() == pytest.approx(3.0)
    assert torch.equal(categories.weights.q, torch.full((2,), 0.5))  # never moves
    metrics = categories.metrics()
    assert not any(key.startswith("q/") for key in metrics)
    assert metrics["group_loss/a"] == pytest.approx(1.0) and metrics["group_loss/b"] == pytest.approx(4.0)


def test_a_warm_up_trains_erm_on_domains_then_groups_from_its_start(tmp_path, dataset):
    categories = SeedCategories.from_config(_config(tmp_path, regroup_start=3))
    categories.ensure_units(dataset)
    categories.regroup(0, _scorer(torch.zeros(14)))
    assert categories.group_names == ["a", "b"]  # domains until step 3
    assert categories.objective(torch.tensor([1.0, 3.0]), torch.tensor([0, 1])).item() == pytest.approx(2.0)
    assert [step for step in range(1, 10) if categories.due(step, 10)] == [3, 6, 9]
    categories.regroup(3, _scorer(torch.arange(14, dtype=torch.float32)))
    assert categories.group_names == ["a:0", "a:1", "b:0", "b:1"]
    assert not categories.schedule.warming_up(categories.last_regroup_step)


def test_state_round_trips_through_a_checkpoint_folder(tmp_path, dataset):
    config = _config(tmp_path)
    categories = SeedCategories.from_config(config)
    categories.ensure_units(dataset)
    categories.regroup(0, _scorer(torch.arange(14, dtype=torch.float32)))
    categories.objective(torch.tensor([1.0, 3.0]), torch.tensor([0, 3]))
    categories.save(str(tmp_path), 0, {"seed": 42})
    restored = SeedCategories.from_config(config)
    restored.ensure_units(dataset)
    restored.load(str(tmp_path), 0)
    assert restored.group_ids.tolist() == categories.group_ids.tolist()
    assert torch.equal(restored.weights.q, categories.weights.q)
    assert restored.last_regroup_step == 0
    other = SeedCategories.from_config(_config(tmp_path, algorithm="groupdro"))
    other.ensure_units(dataset)
    with pytest.raises(ValueError, match="algorithm='seedcat'"):
        other.load(str(tmp_path), 0)


def test_regroup_before_the_units_are_read_says_so(tmp_path):
    with pytest.raises(RuntimeError, match="ensure_units"):
        SeedCategories.from_config(_config(tmp_path)).regroup(0, _scorer(torch.zeros(1)))


def test_the_trainer_is_an_adapter():
    """No algorithm branch, no Hub and no composition report in the Trainer, and under 250 lines."""
    source = inspect.getsource(trainer_module)
    assert len(source.splitlines()) < 250
    assert "args.algorithm" not in source and "config.algorithm" not in source
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert not {"hub", "analysis", "analysis.composition"} & imported, imported
