"""Checkpoint folders that are whole or absent: a run killed mid-save never leaves half of one."""

from __future__ import annotations

import os
import shutil
from typing import Any

import torch
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

STAGING = ".staging"


class AtomicCheckpoints:
    """A ``transformers.Trainer`` mixin: every checkpoint is written into ``<output_dir>/.staging/``, completed
    by ``save_checkpoint_extras`` (every process's own files), then renamed into place by the main process.

    A run killed mid-save leaves no ``checkpoint-N`` folder at all, never a partial one that a resume would
    pick up. ``best_model_checkpoint`` is rewritten to the final folder before the state is saved for good.
    """

    _checkpoint_root: str | None = None

    def save_checkpoint_extras(self, folder: str) -> None:
        """Write what the Trainer does not save itself into the staged checkpoint folder."""

    def _get_output_dir(self, trial: Any) -> str:
        return self._checkpoint_root or super()._get_output_dir(trial)

    def _save_checkpoint(self, model: torch.nn.Module, trial: Any) -> None:
        run_dir = super()._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = os.path.join(run_dir, STAGING)
        self._checkpoint_root = staging
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._checkpoint_root = None
        best = self.state.best_model_checkpoint
        if best is not None and os.path.dirname(os.path.abspath(best)) == os.path.abspath(staging):
            self.state.best_model_checkpoint = os.path.join(run_dir, os.path.relpath(best, staging))
            if self.args.should_save:  # the checkpoint's own copy of the state must name the final folder too
                self.state.save_to_json(os.path.join(staging, name, TRAINER_STATE_NAME))
        self.save_checkpoint_extras(os.path.join(staging, name))
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            best = self.state.best_model_checkpoint
            promote_staged_checkpoint(staging, name, run_dir, self.args.save_total_limit, best)
        self.accelerator.wait_for_everyone()


def promote_staged_checkpoint(
    staging: str, name: str, run_dir: str, save_total_limit: int | None, best_model_checkpoint: str | None
) -> str:
    """Move a complete checkpoint from the staging folder into ``run_dir`` (one rename), then rotate.

    Trainer's own save writes files one by one into the final folder; writing them into ``staging``
    first, with every process's seed-category state, and renaming last makes the save atomic.
    """
    final = os.path.join(run_dir, name)
    if os.path.exists(final):
        shutil.rmtree(final)
    os.replace(os.path.join(staging, name), final)
    if not os.listdir(staging):
        os.rmdir(staging)
    rotate_checkpoints(
        output_dir=run_dir,
        save_total_limit=save_total_limit,
        best_model_checkpoint=best_model_checkpoint,
        use_mtime=False,
    )
    return final


def check_writable(folder: str) -> None:
    """Fail now, naming the folder, rather than at the first checkpoint hours later."""
    probe = os.path.join(folder, f".seedcat_write_probe_{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "w") as handle:
            handle.write("ok")
        os.remove(probe)
    except OSError as error:
        raise OSError(
            f"The output directory {folder!r} cannot be written ({error}); choose another --output_dir."
        ) from error
