"""Just Train Twice (Liu et al. 2021), from the pieces the Trainer already has.

Stage 1 trains ERM for T steps and saves the model. The *error set* is the training rows that this
saved model misclassifies (argmax != label), written once to ``jtt_error_set.json``. Stage 2 trains a
fresh initialisation for ``max_steps`` on a training set in which every error-set row appears
``jtt_upweight`` (lambda) times.

Up-weighting is by sampling, as JTT's paper does it (upsampling), not by a loss weight: the repeated rows
go through the same domain-balanced sampler, objective and gradient accumulation as any row, so no
Trainer code changes and every row's weight in expectation is exactly its number of copies. Within a
domain an error-set row is drawn lambda times as often as another row of that domain (DomainBed's
sampler draws each domain's share of the batch from its own rows).

A run killed in stage 1 starts stage 1 again (it is short); killed in stage 2, it resumes from the
error-set file and its own last checkpoint, like any run.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import SeedCatConfig
from .hub import load_model

ERROR_SET_FILE = "jtt_error_set.json"
STAGE1_DIR = "jtt_stage1"


def stage1_steps(config: SeedCatConfig) -> int:
    """T: ``jtt_stage1_steps``, else a fifth of ``max_steps`` (at least one step)."""
    return config.jtt_stage1_steps or max(1, config.max_steps // 5)


@dataclass(frozen=True)
class UpsampledRows:
    """Stage 2's training set, and for each of its rows the training row it repeats."""

    dataset: Any
    source_rows: np.ndarray


def upsample(dataset: Any, error_rows: list[int], upweight: int) -> UpsampledRows:
    """Every row once, then each error-set row ``upweight - 1`` more times (``Dataset.select``, which keeps
    the dataset's format and transform)."""
    if upweight < 1:
        raise ValueError(f"jtt_upweight (lambda) must be a positive whole number, got {upweight}.")
    rows = np.concatenate([np.arange(len(dataset)), np.tile(np.asarray(error_rows, dtype=np.int64), upweight - 1)])
    return UpsampledRows(dataset.select(rows.tolist()), rows)


def misclassified_rows(trainer: Any, dataset: Any) -> list[int]:
    """The rows of ``dataset`` whose predicted class (argmax of the logits) is not their label, in order."""
    output = trainer.predict(dataset, metric_key_prefix="jtt_error_set")
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    labels = output.label_ids[0] if isinstance(output.label_ids, tuple) else output.label_ids
    predicted = np.asarray(logits).argmax(axis=-1)
    return np.flatnonzero(predicted != np.asarray(labels)).tolist()


def stage1_config(config: SeedCatConfig) -> SeedCatConfig:
    """ERM for T steps into ``<output_dir>/jtt_stage1``: no evaluation, no checkpoints (it restarts if killed),
    nothing pushed; every other setting (data, batch, optimiser, seed) is the run's own."""
    stage1 = copy.deepcopy(config)
    stage1.output_dir = os.path.join(config.output_dir, STAGE1_DIR)
    stage1.algorithm = "erm"
    stage1.max_steps = stage1_steps(config)
    stage1.eval_strategy = "no"
    stage1.save_strategy = "no"
    stage1.push_to_hub = False
    stage1.load_best_model_at_end = False
    stage1.resume_from_checkpoint = None
    stage1.__post_init__()
    return stage1


def read_error_set(output_dir: str, config: SeedCatConfig, num_rows: int) -> list[int] | None:
    """The error set a previous start of this run wrote, if it was made for this T and training set."""
    path = os.path.join(output_dir, ERROR_SET_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        saved = json.load(handle)
    if saved["stage1_steps"] != stage1_steps(config) or saved["num_rows"] != num_rows:
        raise ValueError(
            f"{path} was made with T = {saved['stage1_steps']} on {saved['num_rows']} training rows, but this run "
            f"has T = {stage1_steps(config)} on {num_rows}. Use a new --output_dir, or delete the file to redo "
            "stage 1."
        )
    return saved["rows"]


def run_stage1(
    config: SeedCatConfig,
    model: torch.nn.Module,
    train_dataset: Any,
    scoring_dataset: Any,
    trainer_class: type,
    **trainer_kwargs: Any,
) -> list[int]:
    """Train ``model`` with ERM for T steps, save it, and return the rows of ``scoring_dataset`` (the training
    rows without augmentation) that the *saved* model misclassifies; write them to ``jtt_error_set.json``
    (atomically, by the main process) unless an earlier start of this run did."""
    rows = read_error_set(config.output_dir, config, len(scoring_dataset))
    if rows is not None:
        return rows
    stage1 = stage1_config(config)
    trainer = trainer_class(
        model=model, args=stage1, train_dataset=train_dataset, scoring_dataset=scoring_dataset, **trainer_kwargs
    )
    trainer.train()
    trainer.save_model()
    trainer.accelerator.wait_for_everyone()
    saved = trainer_class(model=load_model(stage1.output_dir), args=stage1, **trainer_kwargs)
    rows = misclassified_rows(saved, scoring_dataset)
    if config.process_index == 0:
        os.makedirs(config.output_dir, exist_ok=True)
        path = os.path.join(config.output_dir, ERROR_SET_FILE)
        record = {
            "stage1_steps": stage1.max_steps,
            "stage1_model": os.path.join(STAGE1_DIR, "model.safetensors"),
            "num_rows": len(scoring_dataset),
            "rows": rows,
        }
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(path + ".tmp", path)
    trainer.accelerator.wait_for_everyone()
    return rows
