"""Groupings that do not depend on the model: the baselines expressed as groupers."""

from __future__ import annotations

import torch

from .base import Grouper, GroupingInputs, register_grouper


@register_grouper("unit")
class UnitGrouper(Grouper):
    """One group per unit (GroupDRO's groups when the unit is the domain)."""

    static = True

    def __init__(self, groups_per_unit: int = 1) -> None:
        if groups_per_unit != 1:
            raise ValueError("The 'unit' grouping has exactly one group per unit; groups_per_unit must be 1.")
        super().__init__(1)

    def fit(self, inputs: GroupingInputs) -> torch.Tensor:
        return inputs.units.clone()
