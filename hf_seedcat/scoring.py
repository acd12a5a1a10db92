"""The scoring pass: every training sample's loss (and features) under the current model, for a regroup."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from .indexed_dataset import INDEX_COLUMN


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


def check_gives_features(model: torch.nn.Module, grouping: str) -> None:
    """A feature grouping (k-means, the seed set) needs a model that can return its penultimate features."""
    if not accepts_output_features(model):
        raise ValueError(
            f"grouping={grouping!r} clusters penultimate features, but "
            f"{type(getattr(model, 'module', model)).__name__}.forward has no output_features argument; "
            "use grouping=loss_rank or a model from hf_seedcat.models."
        )


def scoring_batch_size(args: Any) -> int:
    """The scoring pass's batch (all devices of this process): ``scoring_batch_size`` per device when set, as
    ``eval_batch_size`` counts ``per_device_eval_batch_size``; else the evaluation batch."""
    per_device = getattr(args, "scoring_batch_size", None)
    return per_device * max(1, args.n_gpu) if per_device else args.eval_batch_size


def scoring_loader(
    dataset: Any, indices: torch.Tensor | None, args: Any, collate_fn: Callable | None = None
) -> DataLoader:
    """The training rows (or those at ``indices``), in order, without group sampling: what a regroup scores.

    ``args``: the run's ``TrainingArguments`` (workers, pinning; the batch of ``scoring_batch_size``). Memory is
    pinned on a CUDA machine only: elsewhere pinning has no device to serve and only warns.
    """
    if indices is not None:
        dataset = Subset(dataset, indices.tolist())
    return DataLoader(
        dataset,
        batch_size=scoring_batch_size(args),
        collate_fn=collate_fn,
        num_workers=args.dataloader_num_workers,
        pin_memory=args.dataloader_pin_memory and torch.cuda.is_available(),
    )
