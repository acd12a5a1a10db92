"""Gradient accumulation with group weights: the losses of an optimizer step's micro-batches, measured first.

The paper's update moves q from a batch's group losses, then weights that batch by the new q. With k
micro-batches per optimizer step, q must see all k before any of them is weighted, or the step is not
the step of one batch k times larger. One forward without gradients over the k micro-batches gives those
losses; it must leave no trace, so the forwards that follow (with gradients) draw the same dropout masks
and see the same batch-norm statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F


@contextmanager
def leaves_no_trace(model: torch.nn.Module) -> Iterator[None]:
    """Restore the random number generators and the model's buffers (batch-norm running statistics) on exit."""
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    buffers = [buffer.detach().clone() for buffer in model.buffers()]
    try:
        yield
    finally:
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        with torch.no_grad():
            for buffer, saved in zip(model.buffers(), buffers, strict=True):
                buffer.copy_(saved)


def window_losses(
    model: torch.nn.Module,
    batches: list[dict[str, Any]],
    split_batch: Callable[[dict[str, Any]], tuple[dict[str, Any], torch.Tensor, dict[str, Any]]],
) -> list[tuple[torch.Tensor, dict[str, Any]]]:
    """Every micro-batch's float32 per-sample losses, in training mode and without gradients, with its extra
    columns (group ids among them). The model's mode, RNG and buffers are left as they were."""
    was_training = model.training
    model.train()
    out = []
    try:
        with torch.no_grad(), leaves_no_trace(model):
            for batch in batches:
                inputs, labels, extras = split_batch(batch)
                logits = model(**inputs).logits
                out.append((F.cross_entropy(logits.float(), labels, reduction="none"), extras))
    finally:
        model.train(was_training)
    return out
