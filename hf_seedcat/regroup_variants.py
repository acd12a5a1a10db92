"""Variants of when and from what seed categories are recomputed (issue 12), each off by default.

The paper regroups every t0 steps from the current model's losses and restarts ``q``. On ColoredMNIST
that makes test accuracy swing between colour-reliant and invariant phases: each regroup redefines the
"hard" samples from whatever the model last fitted. The variants change one thing each:

- ``keep_q_on_regroup``: ``q`` survives a regroup (``SeedCategories.regroup``);
- ``regroup_loss_average``: a regroup ranks samples by their loss averaged over the last N passes
  (``LossHistory``), so a sample must stay hard to change category;
- ``regroup_once_at``: plain ERM on domain-balanced batches until step T, one grouping at T, then the
  groups and ``q`` are kept (``schedule.RegroupSchedule``);
- ``regroup_start``: the same ERM warm-up until T, then the paper's regroups at T, T + t0, ... (the
  composition of the paper's step-0 categories, from the random initial model, is anti-correlated with
  the true minority on ColoredMNIST).

None reads the test environment or an attribute column: they see what the paper's method sees.
"""

from __future__ import annotations

import os

import torch
from safetensors.torch import load_file, save_file

LOSS_HISTORY_FILE = "seedcat_loss_history_{}.safetensors"


class LossHistory:
    """The per-sample losses of the last ``window`` scoring passes; a regroup reads their mean.

    With ``window=1`` it returns the current losses unchanged (the paper). The passes kept are the
    regroups' own, so the average spans ``window * regroup_steps`` steps of training.
    """

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"LossHistory needs a window of at least one pass, got {window}.")
        self.window = window
        self.passes: list[torch.Tensor] = []

    def push(self, losses: torch.Tensor) -> torch.Tensor:
        """Remember this pass's losses and return the mean over the passes kept (float32 [N])."""
        losses = losses.detach().float().cpu()
        if self.passes and self.passes[-1].shape != losses.shape:
            raise ValueError(
                f"A scoring pass gave {len(losses)} losses but earlier passes {len(self.passes[-1])}: "
                "the training set changed between regroups."
            )
        self.passes = [*self.passes, losses][-self.window :]
        if len(self.passes) == 1:
            return self.passes[0].clone()
        return torch.stack(self.passes).mean(dim=0)

    def save(self, folder: str, process_index: int) -> str | None:
        """Write the kept passes into a checkpoint folder (nothing to write for the paper's window of 1)."""
        if self.window == 1 or not self.passes:
            return None
        path = os.path.join(folder, LOSS_HISTORY_FILE.format(process_index))
        save_file({f"pass_{i}": losses.contiguous() for i, losses in enumerate(self.passes)}, path)
        return path

    def load(self, folder: str, process_index: int) -> None:
        """Restore the passes a checkpoint kept; a checkpoint without them leaves the history empty."""
        path = os.path.join(folder, LOSS_HISTORY_FILE.format(process_index))
        if not os.path.exists(path):
            self.passes = []
            return
        tensors = load_file(path)
        self.passes = [tensors[f"pass_{i}"] for i in range(len(tensors))][-self.window :]
