"""Seed-category groupings, reachable by name through :func:`create_grouper`."""

from . import fixed, kmeans, loss_rank, seed_set  # noqa: F401  (registers the groupers)
from .base import GROUPERS, Grouper, GroupingInputs, create_grouper, register_grouper

__all__ = ["GROUPERS", "Grouper", "GroupingInputs", "create_grouper", "register_grouper"]
