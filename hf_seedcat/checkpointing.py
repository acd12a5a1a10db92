"""Checkpoint folders that are whole or absent: a run killed mid-save never leaves half of one."""

from __future__ import annotations

import os
import shutil

from transformers.trainer_utils import rotate_checkpoints


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
