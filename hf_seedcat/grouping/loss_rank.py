"""The paper's default seed categories: per-unit quantiles of the per-sample loss."""

from __future__ import annotations

import torch

from .base import Grouper, GroupingInputs, register_grouper


@register_grouper("loss_rank")
class LossRankGrouper(Grouper):
    """Rank samples by loss inside each unit and cut the ranking into equal-sized groups.

    Group ``k`` of a unit holds its k-th lowest-loss slice, so the last group of every unit is its
    hardest patterns. Ties are broken by sample position, which keeps the result deterministic.
    """

    requires = ("losses",)

    def fit(self, inputs: GroupingInputs) -> torch.Tensor:
        losses, units, k = inputs.losses, inputs.units, self.groups_per_unit
        group_ids = torch.empty_like(units)
        for unit in range(inputs.num_units):
            members = torch.nonzero(units == unit).flatten()
            order = torch.sort(losses[members], stable=True).indices
            # rank r of n goes to quantile floor(r * k / n): sizes differ by at most one.
            ranks = torch.arange(len(members))
            group_ids[members[order]] = unit * k + ranks * k // len(members)
        return group_ids
