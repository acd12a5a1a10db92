"""ColoredMNIST exactly as DomainBed builds it (Arjovsky et al.'s IRM benchmark, unsubsampled 28x28).

The binary label is digit < 5 with 25% noise; the colour agrees with the label with probability 1 - e, so
colour predicts the label better than shape in the +90%/+80% environments and worse in -90%.

Every row also keeps the draws it was built from, as attribute columns that never train (the trainer drops
them before the model, the grouping and the sampler): ``digit``, ``label_flipped`` (the label noise hit it),
``color`` (the channel that carries the digit) and ``color_agrees`` (the colour equals the noisy label, i.e.
the sample follows the majority pattern of the +90%/+80% environments). They let analyses ask which samples a
seed category holds, and ``--attribute_columns`` report per-group accuracy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from .columns import require_attribute_columns
from .domain_dataset import DomainDataset, domain_dataset_from_environments
from .mnist import mnist_environments
from .registry import register_dataset

ENVIRONMENTS = ["+90%", "+80%", "-90%"]
COLOR_FLIP_PROBS = [0.1, 0.2, 0.9]  # DomainBed's e per environment
LABEL_FLIP_PROB = 0.25
ATTRIBUTE_COLUMNS = ("digit", "label_flipped", "color", "color_agrees")


def _bernoulli(p: float, n: int, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=generator) < p).float()


def _xor(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs()


def color_digits(
    images: torch.Tensor, digits: torch.Tensor, e: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """DomainBed's `ColoredMNIST.color_dataset`: float images [n, 2, 28, 28] in [0, 1], binary labels, and
    the attributes of every sample (int64 columns named in `ATTRIBUTE_COLUMNS`).

    The draws (label noise, then colour noise) come from `generator` in DomainBed's order; the attributes
    are read off those same draws, so keeping them changes no image and no label.
    """
    clean = (digits < 5).float()
    flipped = _bernoulli(LABEL_FLIP_PROB, len(clean), generator)
    labels = _xor(clean, flipped)
    colors = _xor(labels, _bernoulli(e, len(labels), generator))
    x = torch.stack([images, images], dim=1)
    # Colour c keeps channel c: zero the other channel.
    x[torch.arange(len(x)), (1 - colors).long(), :, :] = 0
    attributes = {
        "digit": digits.long(),
        "label_flipped": flipped.long(),
        "color": colors.long(),
        "color_agrees": (colors == labels).long(),
    }
    return x.float().div_(255.0), labels.long(), attributes


@register_dataset(
    "ColoredMNIST",
    environments=ENVIRONMENTS,
    checkpoint_freq=100,
    num_classes=2,
    input_shape=(2, 28, 28),
    attribute_columns=ATTRIBUTE_COLUMNS,
)
def colored_mnist(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    trial_seed: int = 0,
    seed: int = 0,
    holdout_fraction: float = 0.2,
    max_digits: int | None = None,
    digits: tuple[torch.Tensor, torch.Tensor] | None = None,
    attribute_columns: Sequence[str] | None = None,
) -> DomainDataset:
    """ColoredMNIST with DomainBed's data for `seed` and in/out split for `trial_seed`.

    `digits` reuses an already loaded `load_mnist()` result instead of loading again. Every attribute column is
    kept whatever `attribute_columns` names; a name that is not one of them fails here, before the digits load.
    """
    require_attribute_columns(
        "ColoredMNIST",
        ["pixel_values", "labels", "domain", *ATTRIBUTE_COLUMNS],
        attribute_columns or [],
        "Name one of those: ColoredMNIST keeps no other attributes",
    )
    generator = torch.Generator().manual_seed(seed)
    n_envs = len(ENVIRONMENTS)
    envs = mnist_environments(n_envs, generator, digits=digits, data_dir=data_dir, max_digits=max_digits)
    colored = [color_digits(x, y, e, generator) for (x, y), e in zip(envs, COLOR_FLIP_PROBS, strict=True)]
    return domain_dataset_from_environments(
        "ColoredMNIST",
        ENVIRONMENTS,
        [(x, y) for x, y, _ in colored],
        attributes=[attributes for _, _, attributes in colored],
        num_classes=2,
        trial_seed=trial_seed,
        holdout_fraction=holdout_fraction,
        checkpoint_freq=100,
    )
