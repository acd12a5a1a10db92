"""ColoredMNIST exactly as DomainBed builds it (Arjovsky et al.'s IRM benchmark, unsubsampled 28x28).

The binary label is digit < 5 with 25% noise; the colour agrees with the label with probability 1 - e, so
colour predicts the label better than shape in the +90%/+80% environments and worse in -90%.
"""

from __future__ import annotations

import os

import torch

from .domain_dataset import DomainDataset, domain_dataset_from_environments, register_dataset
from .mnist import mnist_environments

ENVIRONMENTS = ["+90%", "+80%", "-90%"]
COLOR_FLIP_PROBS = [0.1, 0.2, 0.9]  # DomainBed's e per environment
LABEL_FLIP_PROB = 0.25


def _bernoulli(p: float, n: int, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=generator) < p).float()


def _xor(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs()


def color_digits(
    images: torch.Tensor, digits: torch.Tensor, e: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """DomainBed's `ColoredMNIST.color_dataset`: float images [n, 2, 28, 28] in [0, 1] and binary labels.

    The draws (label noise, then colour noise) come from `generator` in DomainBed's order.
    """
    labels = (digits < 5).float()
    labels = _xor(labels, _bernoulli(LABEL_FLIP_PROB, len(labels), generator))
    colors = _xor(labels, _bernoulli(e, len(labels), generator))
    x = torch.stack([images, images], dim=1)
    # Colour c keeps channel c: zero the other channel.
    x[torch.arange(len(x)), (1 - colors).long(), :, :] = 0
    return x.float().div_(255.0), labels.long()


@register_dataset("ColoredMNIST")
def colored_mnist(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    trial_seed: int = 0,
    seed: int = 0,
    holdout_fraction: float = 0.2,
    max_digits: int | None = None,
    digits: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> DomainDataset:
    """ColoredMNIST with DomainBed's data for `seed` and in/out split for `trial_seed`.

    `digits` reuses an already loaded `load_mnist()` result instead of loading again.
    """
    generator = torch.Generator().manual_seed(seed)
    n_envs = len(ENVIRONMENTS)
    envs = mnist_environments(n_envs, generator, digits=digits, data_dir=data_dir, max_digits=max_digits)
    colored = [color_digits(x, y, e, generator) for (x, y), e in zip(envs, COLOR_FLIP_PROBS, strict=True)]
    return domain_dataset_from_environments(
        "ColoredMNIST",
        ENVIRONMENTS,
        colored,
        num_classes=2,
        trial_seed=trial_seed,
        holdout_fraction=holdout_fraction,
        checkpoint_freq=100,
    )
