"""When seed categories are recomputed: the paper's every-t0 schedule and its two variants (issue 12).

- the paper: at step 0 and every ``every`` (t0) steps;
- ``start`` (``regroup_start``): domain-balanced ERM until step T, then the paper's regroups at T, T + t0, ...;
- ``once_at`` (``regroup_once_at``): domain-balanced ERM until step T, one grouping at T, kept to the end.

Before its first grouping a variant samples the domains equally and back-propagates the plain mean.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegroupSchedule:
    """The steps at which a regroup happens; step 0 is the trainer's, at the start of training."""

    every: int
    start: int | None = None
    once_at: int | None = None

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"regroup_steps must be a positive number of steps, got {self.every}.")
        if self.start is not None and self.once_at is not None:
            raise ValueError("regroup_start and regroup_once_at exclude each other (both start grouping at T).")

    def due(self, step: int, max_steps: int) -> bool:
        """Whether the step just completed ends with a regroup. Never at the last step, whose groups would
        train nothing."""
        if step >= max_steps:
            return False
        if self.once_at is not None:
            return step == self.once_at
        start = self.start or 0
        return step >= start and (step - start) % self.every == 0

    @property
    def first_grouping_step(self) -> int | None:
        """The step of the first seed categories when a variant trains ERM before them (None: step 0)."""
        return self.once_at or self.start

    def warming_up(self, last_regroup_step: int | None) -> bool:
        """Whether a one-shot or warm-up run is still in its plain ERM phase (no seed categories formed yet)."""
        first = self.first_grouping_step
        return first is not None and (last_regroup_step is None or last_regroup_step < first)
