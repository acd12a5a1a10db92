"""When and how seed categories are recomputed: a scoring pass over the training set every t0 steps."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from .regroup_variants import regroup_due

INDEX_COLUMN = "seedcat_index"
GROUP_COLUMN = "seedcat_group"


@torch.no_grad()
def score_samples(
    model: torch.nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    num_samples: int,
    gather: Callable[[torch.Tensor], torch.Tensor],
    split_batch: Callable[[dict], tuple[dict, torch.Tensor, dict]],
    with_features: bool = False,
    expected: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Cross-entropy (float32) and, if asked, penultimate features of every sample, placed by sample index.

    The model runs in eval mode. ``split_batch`` separates model inputs, labels and the extra columns
    (sample index among them). ``batches`` may be this process's shard; ``gather`` (e.g.
    ``accelerator.gather_for_metrics``) collects every process's share so all return the same vectors.
    Features need a model whose forward takes ``output_features`` (hf_seedcat's image models do).
    ``expected`` lists the sample indices the batches cover when they are a subset (default: all).
    """
    was_training = model.training
    model.eval()
    losses = torch.zeros(num_samples)
    features: torch.Tensor | None = None
    scored = torch.zeros(num_samples, dtype=torch.bool)
    extra = {"output_features": True} if with_features else {}
    try:
        for batch in batches:
            inputs, labels, extras = split_batch(batch)
            outputs = model(**inputs, **extra)
            loss = F.cross_entropy(outputs.logits.float(), labels, reduction="none")
            index = gather(extras[INDEX_COLUMN]).cpu()
            losses[index] = gather(loss).float().cpu()
            if with_features:
                batch_features = gather(outputs.features.float()).cpu()
                if features is None:
                    features = torch.zeros(num_samples, batch_features.shape[1])
                features[index] = batch_features
            scored[index] = True
    finally:
        model.train(was_training)
    wanted = scored if expected is None else scored[expected]
    if not wanted.all():
        raise RuntimeError(f"The regroup pass scored {int(wanted.sum())} of {len(wanted)} samples.")
    return losses, features


def accepts_output_features(model: torch.nn.Module) -> bool:
    model = getattr(model, "module", model)
    return "output_features" in inspect.signature(model.forward).parameters


class RegroupCallback(TrainerCallback):
    """Regroups before the first step (unless a checkpoint restored the groups) and every ``regroup_steps``.

    The periodic regroup runs at the end of the step that completes a multiple of ``regroup_steps``
    (or at ``regroup_once_at`` only, for one-shot categories): after the optimizer step and before the
    next batch is fetched or a checkpoint is saved, so the next batch is drawn from the new groups and a
    checkpoint at that step already holds them.
    """

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        if self.trainer.group_ids is None:
            self.trainer.regroup(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if regroup_due(state.global_step, state.max_steps, args):
            self.trainer.regroup(state.global_step)
