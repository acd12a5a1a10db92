"""The grouper interface and its registry: who belongs to which seed category.

A grouper turns per-sample signals (losses now; features later) into group ids, separately inside
each *unit* (a domain, a class, or a domain-class pair). Every grouper returns ids laid out the same
way, ``unit * groups_per_unit + k``, so the number and meaning of groups is fixed for a run and the
weights ``q`` always have the same length.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch

GROUPERS: dict[str, Callable[..., Grouper]] = {}


@dataclass(frozen=True)
class GroupingInputs:
    """What a grouper may look at: the unit of every sample, and signals measured under the model."""

    units: torch.Tensor  # int64 [N], unit id of every sample, in 0..num_units-1
    num_units: int
    losses: torch.Tensor | None = None  # float32 [N], per-sample loss under the current model
    features: torch.Tensor | None = None  # float32 [N, D], penultimate features (later groupings)


class Grouper(ABC):
    """Splits every unit into ``groups_per_unit`` seed categories."""

    #: which signals ``fit`` reads, so the trainer computes only those ("losses", "features").
    requires: tuple[str, ...] = ()
    #: a grouper whose answer never changes (e.g. one group per domain) is computed once.
    static: bool = False

    def __init__(self, groups_per_unit: int) -> None:
        if groups_per_unit < 1:
            raise ValueError(f"groups_per_unit must be at least 1, got {groups_per_unit}.")
        self.groups_per_unit = groups_per_unit

    def num_groups(self, num_units: int) -> int:
        return num_units * self.groups_per_unit

    def __call__(self, inputs: GroupingInputs) -> torch.Tensor:
        """Return the group id (int64 [N]) of every sample, after checking the inputs."""
        check_units(inputs.units, inputs.num_units, self.groups_per_unit)
        for name in self.requires:
            signal = getattr(inputs, name)
            if signal is None:
                raise ValueError(f"The {type(self).__name__} grouper needs per-sample {name}.")
            if not torch.isfinite(signal).all():
                bad = torch.nonzero(~torch.isfinite(signal).reshape(len(signal), -1).all(dim=1)).flatten()
                raise ValueError(
                    f"Per-sample {name} contain NaN or infinite values (sample ids {bad[:10].tolist()}"
                    f"{' ...' if len(bad) > 10 else ''}); cannot form seed categories."
                )
        return self.fit(inputs)

    @abstractmethod
    def fit(self, inputs: GroupingInputs) -> torch.Tensor:
        """Compute group ids; inputs are already validated."""


def check_units(units: torch.Tensor, num_units: int, groups_per_unit: int) -> None:
    """Fail with a sentence when a unit is empty or smaller than the number of groups it must hold."""
    counts = torch.bincount(units, minlength=num_units)
    if len(counts) > num_units:
        raise ValueError(f"Unit ids go up to {int(units.max())} but only {num_units} units were declared.")
    for unit, count in enumerate(counts.tolist()):
        if count == 0:
            raise ValueError(f"Unit {unit} has no samples: every domain (or class) being split must be non-empty.")
        if count < groups_per_unit:
            raise ValueError(
                f"Unit {unit} has {count} samples, fewer than groups_per_domain={groups_per_unit}: "
                "lower groups_per_domain or give that unit more data."
            )


def register_grouper(name: str) -> Callable[[type[Grouper]], type[Grouper]]:
    """Class decorator that makes a grouper reachable by name (``--grouping NAME``)."""

    def decorate(cls: type[Grouper]) -> type[Grouper]:
        if name in GROUPERS:
            raise ValueError(f"A grouper named {name!r} is already registered.")
        GROUPERS[name] = cls
        return cls

    return decorate


def create_grouper(name: str, **options: object) -> Grouper:
    """Build a registered grouper by name, like ``timm.create_model``."""
    if name not in GROUPERS:
        raise ValueError(f"Unknown grouping {name!r}; registered groupings: {sorted(GROUPERS)}.")
    return GROUPERS[name](**options)
