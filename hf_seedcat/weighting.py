"""How much each seed category weighs: the exponentiated-gradient weights ``q`` of Algorithm 1."""

from __future__ import annotations

import torch


class GroupWeights:
    """The distribution ``q`` over groups, updated from each step's per-group mean losses.

    This is GroupDRO's online update (Sagawa et al.), applied to whatever groups the run uses:
    domains for GroupDRO, seed categories for SeedCat. ``q`` is kept normalised, in float32, on the
    device of the losses it is updated from: a GPU step then never waits to copy ``q`` to or from the host.
    """

    def __init__(self, num_groups: int, eta: float, device: torch.device | str | None = None) -> None:
        """``device``: where the losses will be (the model's device), so ``q`` never has to move there."""
        if num_groups < 1:
            raise ValueError(f"GroupWeights needs at least one group, got {num_groups}.")
        self.eta = eta
        self.q = torch.full((num_groups,), 1.0 / num_groups, device=device)

    @property
    def num_groups(self) -> int:
        return len(self.q)

    def reset(self, num_groups: int | None = None) -> None:
        """Back to uniform, as Algorithm 1 does at every redistribution."""
        n = self.num_groups if num_groups is None else num_groups
        self.q = torch.full((n,), 1.0 / n, device=self.q.device)

    def update(self, group_losses: torch.Tensor) -> torch.Tensor:
        """Apply one step of the paper's update and return the new ``q``.

        ``group_losses[g]`` is group g's mean loss in this batch (0 for a group with no sample in it,
        which leaves that group's unnormalised weight unchanged).
        """
        loss = group_losses.detach().float()
        self.q = self.q.to(loss.device)
        # q_g <- q_g * exp(eta * loss_g)            (Algorithm 1, line 5)
        self.q = self.q * torch.exp(self.eta * loss)
        # q <- q / sum_g q_g                       (Algorithm 1, line 6)
        self.q = self.q / self.q.sum()
        return self.q

    def weighted_loss(self, group_losses: torch.Tensor) -> torch.Tensor:
        """The objective back-propagated: sum_g q_g * loss_g   (Algorithm 1, line 7)."""
        return torch.dot(self.q.to(group_losses.device, group_losses.dtype), group_losses)

    def state_dict(self) -> dict[str, object]:
        return {"q": self.q.tolist(), "eta": self.eta}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.q = torch.tensor(state["q"], dtype=torch.float32, device=self.q.device)
        self.eta = float(state["eta"])
