"""A batch from every group: the sampler that gives each seed category the same share of a step."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

#: How draws are made from (seed, epoch, batch); a checkpoint made with another scheme cannot be continued.
SAMPLER_SCHEME = "seedseq-v1"


class GroupBalancedBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields batches of ``(sample_index, group_id)`` with exactly ``batch_size // num_groups`` per group.

    Samples are drawn with replacement inside each group, like DomainBed's infinite per-domain loaders,
    so a small group is never exhausted. Each index travels with the group it was drawn for.

    Every batch is a pure function of ``(seed, epoch, batch number)`` and the installed grouping, so a
    resumed run that skips the batches it has already trained on draws exactly what an uninterrupted
    run draws; no generator state needs saving. With ``num_replicas`` processes every process draws the
    same global batch (``num_replicas * batch_size // num_groups`` per group) and keeps its own slice
    of every group's share: no process duplicates or drops another's share, and each process's batch is
    balanced on its own. ``len()`` is one pass's worth of samples; the Trainer's ``max_steps`` decides
    how many passes run.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, num_replicas: int = 1, rank: int = 0) -> None:
        if num_samples < 1:
            raise ValueError("The training dataset is empty: there is nothing to sample.")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in 0..{num_replicas - 1}.")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.members: list[torch.Tensor] = []

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

    def set_epoch(self, epoch: int) -> None:
        """Called by the Trainer at every epoch, so each pass draws fresh batches."""
        self.epoch = epoch

    @property
    def per_group(self) -> int:
        return self.batch_size // len(self.members)

    def __len__(self) -> int:
        return max(1, self.num_samples // (self.batch_size * self.num_replicas))

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for batch_number in range(len(self)):
            yield self.draw_batch(batch_number)

    def draw_batch(self, batch_number: int) -> list[tuple[int, int]]:
        if not self.members:
            raise RuntimeError("No grouping installed: call set_groups() before drawing batches.")
        seed = np.random.SeedSequence([self.seed, self.epoch, batch_number]).generate_state(1)[0]
        generator = torch.Generator().manual_seed(int(seed))
        share = self.per_group
        batch: list[tuple[int, int]] = []
        for group, members in enumerate(self.members):
            draws = torch.randint(len(members), (share * self.num_replicas,), generator=generator)
            picks = members[draws[self.rank * share : (self.rank + 1) * share]]
            batch.extend((int(i), group) for i in picks)
        return batch

    def state_dict(self) -> dict[str, object]:
        """What decides the draws besides the grouping and the batch position the Trainer tracks."""
        return {"seed": self.seed, "epoch": self.epoch, "num_replicas": self.num_replicas, "scheme": SAMPLER_SCHEME}


class EpochAwareDataLoader(DataLoader):
    """Forwards the Trainer's ``set_epoch`` to the group-balanced sampler."""

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)


def group_balanced_loader(dataset: Any, batch_size: int, args: Any, collate_fn: Any = None) -> EpochAwareDataLoader:
    """This process's training loader: batches of ``batch_size`` drawn equally from every group.

    ``args``: the run's ``TrainingArguments`` (seed, processes, workers, pinning). No batch is drawn until
    the trainer installs groups with ``loader.batch_sampler.set_groups``.
    """
    sampler = GroupBalancedBatchSampler(
        len(dataset), batch_size, seed=args.seed, num_replicas=args.world_size, rank=args.process_index
    )
    return EpochAwareDataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=args.dataloader_num_workers,
        pin_memory=args.dataloader_pin_memory and torch.cuda.is_available(),
        persistent_workers=args.dataloader_persistent_workers and args.dataloader_num_workers > 0,
    )
