"""When and how seed categories are recomputed: a scoring pass over the training set every t0 steps."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

INDEX_COLUMN = "seedcat_index"
GROUP_COLUMN = "seedcat_group"


@torch.no_grad()
def per_sample_losses(
    model: torch.nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    num_samples: int,
    gather: Callable[[torch.Tensor], torch.Tensor],
    split_batch: Callable[[dict], tuple[dict, torch.Tensor, dict]],
) -> torch.Tensor:
    """Cross-entropy of every sample under ``model`` in eval mode, in float32, placed by sample index.

    ``split_batch`` separates model inputs, labels and the extra columns (sample index among them).
    ``batches`` may be this process's shard; ``gather`` (e.g. ``accelerator.gather_for_metrics``)
    collects every process's indices and losses so all processes return the same full vector.
    """
    was_training = model.training
    model.eval()
    losses = torch.zeros(num_samples)
    scored = torch.zeros(num_samples, dtype=torch.bool)
    try:
        for batch in batches:
            inputs, labels, extras = split_batch(batch)
            logits = model(**inputs).logits
            loss = F.cross_entropy(logits.float(), labels, reduction="none")
            index = gather(extras[INDEX_COLUMN]).cpu()
            losses[index] = gather(loss).float().cpu()
            scored[index] = True
    finally:
        model.train(was_training)
    if not scored.all():
        raise RuntimeError(f"The regroup pass scored {int(scored.sum())} of {num_samples} samples.")
    return losses


class RegroupCallback(TrainerCallback):
    """Calls ``regroup`` before the first step and then every ``regroup_steps`` optimizer steps."""

    def __init__(self, regroup: Callable[[int], None], regroup_steps: int) -> None:
        self.regroup = regroup
        self.regroup_steps = regroup_steps

    def on_train_begin(self, args, state, control, **kwargs):
        self.regroup(state.global_step)

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step > 0 and state.global_step % self.regroup_steps == 0:
            self.regroup(state.global_step)
