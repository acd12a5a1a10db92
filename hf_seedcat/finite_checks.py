"""Fail on a NaN or infinite training loss, naming the step, groups and samples, without stalling a GPU."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class NonFiniteLossError(FloatingPointError):
    """A training loss was NaN or infinite; the message names the step, groups and samples."""


class DeferredFiniteChecks:
    """Per-sample loss checks, run at once on the CPU and at the next log on an accelerator.

    Asking whether any loss is bad reads a value back from the device, which would make every step wait
    for it; on an accelerator the question is therefore asked once per log, for all steps since the last.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor | None]] = []

    def add(
        self,
        step: int,
        per_sample: torch.Tensor,
        groups: torch.Tensor,
        index: torch.Tensor | None,
        group_names: Sequence[str],
    ) -> None:
        self._pending.append((step, ~torch.isfinite(per_sample.detach()), groups, index))
        if per_sample.device.type == "cpu":
            self.raise_if_any(group_names)

    def raise_if_any(self, group_names: Sequence[str]) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        if not bool(torch.stack([bad.any() for _, bad, _, _ in pending]).any()):  # one sync for all steps
            return
        step, bad, groups, index = next(check for check in pending if bool(check[1].any()))
        names = sorted({group_names[g] for g in groups[bad].tolist()})
        ids = index[bad].tolist() if index is not None else "unknown"
        raise NonFiniteLossError(
            f"Non-finite training loss at step {step}: groups {names}, "
            f"sample ids {ids}. Lower the learning rate or check these samples."
        )
