"""The exponentiated group-weight update against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from hf_seedcat import GroupWeights


def test_update_matches_hand_computed_example():
    weights = GroupWeights(num_groups=3, eta=0.5)
    losses = torch.tensor([1.0, 2.0, 0.0])
    q = weights.update(losses)
    # from uniform 1/3: q_g ∝ exp(0.5 * loss_g) = e^0.5, e^1, 1
    total = math.exp(0.5) + math.exp(1.0) + 1.0
    expected = [math.exp(0.5) / total, math.exp(1.0) / total, 1.0 / total]
    assert q.tolist() == pytest.approx(expected, rel=1e-6)
    # a second step multiplies again: q_g ∝ q_g * exp(0.5 * loss_g)
    q = weights.update(torch.tensor([0.0, 0.0, 2.0]))
    unnormalised = [expected[0], expected[1], expected[2] * math.exp(1.0)]
    assert q.tolist() == pytest.approx([u / sum(unnormalised) for u in unnormalised], rel=1e-6)
    # the objective is sum_g q_g * loss_g
    group_losses = torch.tensor([1.0, 3.0, 2.0])
    assert float(weights.weighted_loss(group_losses)) == pytest.approx(float((q * group_losses).sum()))


def test_update_uses_detached_losses_and_stays_float32():
    weights = GroupWeights(2, eta=0.01)
    losses = torch.tensor([0.3, 0.7], dtype=torch.bfloat16, requires_grad=True)
    q = weights.update(losses)
    assert q.dtype == torch.float32 and not q.requires_grad
    assert float(q.sum()) == pytest.approx(1.0)
    objective = weights.weighted_loss(losses.float())
    objective.backward()
    # the gradient reaching each group's loss is exactly its weight
    assert losses.grad.float().tolist() == pytest.approx(q.tolist(), rel=1e-2)


def test_reset_and_state_round_trip():
    weights = GroupWeights(4, eta=0.01)
    weights.update(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    saved = weights.state_dict()
    other = GroupWeights(4, eta=0.5)
    other.load_state_dict(saved)
    assert torch.equal(other.q, weights.q) and other.eta == 0.01
    weights.reset(6)
    assert weights.q.tolist() == pytest.approx([1 / 6] * 6)
    with pytest.raises(ValueError, match="at least one group"):
        GroupWeights(0, eta=0.01)
