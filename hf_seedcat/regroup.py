"""When seed categories are recomputed during training: the callback that asks ``SeedCategories`` at every step."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from .indexed_dataset import GROUP_COLUMN, INDEX_COLUMN
from .scoring import accepts_output_features, check_gives_features, score_samples

__all__ = [
    "GROUP_COLUMN",
    "INDEX_COLUMN",
    "RegroupCallback",
    "accepts_output_features",
    "check_gives_features",
    "score_samples",
]


class RegroupCallback(TrainerCallback):
    """Regroups before the first step (unless a checkpoint restored the groups) and every ``regroup_steps``.

    The periodic regroup runs at the end of the step that completes a multiple of ``regroup_steps``
    (or at ``regroup_once_at`` only, for one-shot categories): after the optimizer step and before the
    next batch is fetched or a checkpoint is saved, so the next batch is drawn from the new groups and a
    checkpoint at that step already holds them.
    """

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        if self.trainer.seed_categories.group_ids is None:
            self.trainer.regroup(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.trainer.seed_categories.due(state.global_step, state.max_steps):
            self.trainer.regroup(state.global_step)
