"""A batch from every group: the sampler that gives each seed category the same share of a step."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class GroupBalancedBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields batches of ``(sample_index, group_id)`` with exactly ``batch_size // num_groups`` per group.

    Samples are drawn with replacement inside each group, like DomainBed's infinite per-domain loaders,
    so a small group is never exhausted. Each index travels with the group it was drawn for: a batch
    drawn just before a regroup stays balanced under the grouping it was drawn from.

    ``len()`` is one pass's worth of samples (``num_samples // batch_size`` batches); the Trainer's
    ``max_steps`` decides how many passes run. Every process draws the same sequence (same seed), so
    sharding by batch across processes keeps every process's batch balanced.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int) -> None:
        if num_samples < 1:
            raise ValueError("The training dataset is empty: there is nothing to sample.")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.members: list[torch.Tensor] = []
        self.group_ids: torch.Tensor | None = None

    def set_groups(self, group_ids: torch.Tensor, num_groups: int, group_names: list[str] | None = None) -> None:
        """Install a new grouping; every group must have at least one sample and one slot in the batch."""
        if len(group_ids) != self.num_samples:
            raise ValueError(f"Got {len(group_ids)} group ids for a dataset of {self.num_samples} samples.")
        if num_groups > self.batch_size:
            raise ValueError(
                f"per_device_train_batch_size={self.batch_size} cannot give one sample to each of "
                f"{num_groups} groups; raise the batch size or lower groups_per_domain."
            )
        counts = torch.bincount(group_ids, minlength=num_groups)
        for group, count in enumerate(counts.tolist()):
            if count == 0:
                name = group_names[group] if group_names else str(group)
                raise ValueError(f"Group {name} (id {group}) is empty: a batch cannot be drawn from it.")
        order = torch.argsort(group_ids, stable=True)
        self.members = list(torch.split(order, counts.tolist()))
        self.group_ids = group_ids

    @property
    def per_group(self) -> int:
        return self.batch_size // len(self.members)

    def __len__(self) -> int:
        return max(1, self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for _ in range(len(self)):
            yield self.draw_batch()

    def draw_batch(self) -> list[tuple[int, int]]:
        if not self.members:
            raise RuntimeError("No grouping installed: call set_groups() before drawing batches.")
        batch: list[tuple[int, int]] = []
        for group, members in enumerate(self.members):
            picks = members[torch.randint(len(members), (self.per_group,), generator=self.generator)]
            batch.extend((int(i), group) for i in picks)
        return batch

    def state_dict(self) -> dict[str, object]:
        return {"generator": self.generator.get_state().tolist()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.generator.set_state(torch.tensor(state["generator"], dtype=torch.uint8))
