"""RotatedMNIST exactly as DomainBed builds it: environment i holds its digits rotated by ANGLES[i].

Rows also carry ``angle`` and ``digit`` as attribute columns that never train (see ``ColoredMNIST``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from .columns import require_attribute_columns
from .domain_dataset import DomainDataset, domain_dataset_from_environments
from .mnist import mnist_environments
from .registry import register_dataset

ENVIRONMENTS = ["0", "15", "30", "45", "60", "75"]
ANGLES = [0, 15, 30, 45, 60, 75]
ATTRIBUTE_COLUMNS = ("angle", "digit")


def rotate_digits(images: torch.Tensor, angle: float) -> torch.Tensor:
    """Float images [n, 1, 28, 28] in [0, 1], each rotated with PIL bicubic and black fill, as DomainBed.

    Bit-identical to DomainBed's ToPILImage -> rotate -> ToTensor per image, at about 2.5x its speed.
    A batched tensor rotation would be faster still but PIL's bicubic differs from torch's, so it is not
    DomainBed's data.
    """
    pixels = images.numpy()
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        rotated = TF.rotate(Image.fromarray(image), angle, interpolation=InterpolationMode.BICUBIC, fill=0)
        out[i] = np.asarray(rotated)
    return torch.from_numpy(out).unsqueeze(1).float().div_(255.0)


@register_dataset(
    "RotatedMNIST",
    environments=ENVIRONMENTS,
    checkpoint_freq=100,
    num_classes=10,
    input_shape=(1, 28, 28),
    attribute_columns=ATTRIBUTE_COLUMNS,
)
def rotated_mnist(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    trial_seed: int = 0,
    seed: int = 0,
    holdout_fraction: float = 0.2,
    max_digits: int | None = None,
    digits: tuple[torch.Tensor, torch.Tensor] | None = None,
    attribute_columns: Sequence[str] | None = None,
) -> DomainDataset:
    """RotatedMNIST with DomainBed's data for `seed` and in/out split for `trial_seed`.

    `digits` reuses an already loaded `load_mnist()` result instead of loading again. Every attribute column is
    kept whatever `attribute_columns` names; a name that is not one of them fails here, before the digits load.
    """
    require_attribute_columns(
        "RotatedMNIST",
        ["pixel_values", "labels", "domain", *ATTRIBUTE_COLUMNS],
        attribute_columns or [],
        "Name one of those: RotatedMNIST keeps no other attributes",
    )
    generator = torch.Generator().manual_seed(seed)
    n_envs = len(ENVIRONMENTS)
    envs = mnist_environments(n_envs, generator, digits=digits, data_dir=data_dir, max_digits=max_digits)
    rotated = [(rotate_digits(x, angle), y) for (x, y), angle in zip(envs, ANGLES, strict=True)]
    attributes = [
        {"angle": torch.full((len(y),), angle, dtype=torch.long), "digit": y.long()}
        for (_, y), angle in zip(envs, ANGLES, strict=True)
    ]
    return domain_dataset_from_environments(
        "RotatedMNIST",
        ENVIRONMENTS,
        rotated,
        attributes=attributes,
        num_classes=10,
        trial_seed=trial_seed,
        holdout_fraction=holdout_fraction,
        checkpoint_freq=100,
    )
