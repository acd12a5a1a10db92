"""Regrouping without an extra pass: remember each sample's training loss (and features) as it goes by.

Every training step already computes the per-sample losses of its batch; keeping an exponential
moving average of them per sample lets a regroup read losses from memory instead of scoring the whole
training set again. Samples not seen since the previous regroup have no fresh value; the regroup
scores just those (at the first regroup, that is all of them), so memory never invents a loss.

Values come from the model in training mode (dropout, batch statistics) and are up to ``regroup_steps``
old, unlike the pass, which scores every sample with the current model in eval mode.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from safetensors.torch import load_file, save_file


class TrainingLossMemory:
    """Per-sample EMA of training losses (and features), and the step each sample was last seen."""

    def __init__(self, num_samples: int, decay: float = 0.5) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"memory_decay must be in [0, 1), got {decay}.")
        self.decay = decay
        self.losses = torch.zeros(num_samples)
        self.features: torch.Tensor | None = None
        self.last_seen = torch.full((num_samples,), -1, dtype=torch.long)

    def record(
        self,
        index: torch.Tensor,
        losses: torch.Tensor,
        step: int,
        features: torch.Tensor | None = None,
        replace: bool = False,
    ) -> None:
        """Blend new values into the average; a first sight (or ``replace``) takes the value as is."""
        index = index.detach().cpu()
        seen = (self.last_seen[index] >= 0).unsqueeze(-1) & (not replace)
        new_losses = losses.detach().float().cpu()
        self.losses[index] = self._blend(self.losses[index].unsqueeze(-1), new_losses.unsqueeze(-1), seen).squeeze(-1)
        if features is not None:
            new_features = features.detach().float().cpu()
            if self.features is None:
                self.features = torch.zeros(len(self.losses), new_features.shape[1])
            self.features[index] = self._blend(self.features[index], new_features, seen)
        self.last_seen[index] = step

    def _blend(self, old: torch.Tensor, new: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        return torch.where(seen, self.decay * old + (1 - self.decay) * new, new)

    def seen_after(self, step: int | None) -> torch.Tensor:
        """Which samples have a value recorded after ``step`` (none if step is None).

        Training steps record under the number of the step they complete (1 for the first), a regroup
        under its own step, so a regroup's scores are never taken for fresh training values.
        """
        if step is None:
            return torch.zeros_like(self.last_seen, dtype=torch.bool)
        return self.last_seen > step

    def synchronize(self, gather: Callable[[torch.Tensor], torch.Tensor], num_processes: int) -> None:
        """Make every process hold the same memory: per sample, the copy seen most recently wins.

        Each process saw different batches; without this their regroups would disagree.
        """
        if num_processes == 1:
            return
        n = len(self.losses)
        last_seen = gather(self.last_seen).cpu().view(num_processes, n)
        owner = last_seen.argmax(dim=0)  # ties: the lowest process, the same on every process
        pick = torch.arange(n)
        self.losses = gather(self.losses).cpu().view(num_processes, n)[owner, pick]
        if self.features is not None:
            features = gather(self.features).cpu().view(num_processes, n, -1)
            self.features = features[owner, pick]
        self.last_seen = last_seen[owner, pick]

    def save(self, folder: str, process_index: int) -> None:
        tensors = {"losses": self.losses, "last_seen": self.last_seen}
        if self.features is not None:
            tensors["features"] = self.features
        save_file(tensors, os.path.join(folder, memory_file(process_index)), metadata={"decay": str(self.decay)})

    def load(self, folder: str, process_index: int) -> None:
        path = os.path.join(folder, memory_file(process_index))
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{folder} has no {memory_file(process_index)}: it was saved without --regroup_source memory."
            )
        tensors = load_file(path)
        if len(tensors["losses"]) != len(self.losses):
            raise ValueError(f"{path} remembers {len(tensors['losses'])} samples; this run has {len(self.losses)}.")
        self.losses, self.last_seen = tensors["losses"], tensors["last_seen"]
        self.features = tensors.get("features")


def memory_file(process_index: int) -> str:
    return f"seedcat_memory_{process_index}.safetensors"
