"""``seedcat-train --dfr``: DFR (``hf_seedcat.dfr``) on a finished run, its results beside the run's own.

Which rows do what:
- **train and tune** the last layer: the held-out split, with its attributes (the only place they are
  read): DomainBed data's training environments' out splits, a split-based dataset's validation split.
  ``fit_dfr`` tunes C on one half of it and refits on all of it, group-balanced.
- **evaluate**: every split the run evaluates, with the retrained head. The held-out splits' accuracies
  after DFR are not a validation any more (DFR trained on them); the test splits never reach DFR.

The DFR model is the run's final model with its last layer replaced, saved in ``<output_dir>/dfr`` with
``dfr.json`` (C, the tuning curve, the groups, every stage's rows). Its accuracies go into
``results.jsonl`` as one more line at the final step, under the algorithm ``<algorithm>+dfr`` (so the
tables show it as its own arm), marked ``"dfr": true``.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .dfr import apply_dfr, fit_dfr, penultimate_features
from .evaluation.metrics import group_names, split_attributes
from .evaluation.results import RESULTS_FILE

DFR_DIR = "dfr"
DFR_FILE = "dfr.json"


def check_dfr_possible(attribute_columns: Sequence[str] | None, held_out_rows: int) -> None:
    """Refuse ``--dfr`` before training when it could not run after it."""
    if not attribute_columns:
        raise ValueError(
            "--dfr retrains the last layer on groups (label x attributes) of the held-out split, but no "
            "--attribute_columns were given. Name the attribute columns, e.g. --attribute_columns color_agrees."
        )
    if held_out_rows == 0:
        raise ValueError(
            "--dfr needs a held-out split to retrain on, and this run has none (--holdout_fraction 0 leaves the "
            "training environments no out split). Use --holdout_fraction > 0, or a dataset with a validation split."
        )


def held_out_groups(split: Any, labels: np.ndarray, attribute_columns: Sequence[str]) -> list[str]:
    """Each held-out row's group, the label with its attributes (``y=1,color_agrees=0``), as evaluation names
    them; read from the raw columns, without the split's transform."""
    return group_names(labels, split_attributes(split, attribute_columns), attribute_columns)


def run_dfr(
    trainer: Any,
    held_out: Mapping[str, Any],
    eval_datasets: Mapping[str, Any],
    results_record: dict[str, Any],
    attribute_columns: Sequence[str],
) -> dict[str, Any]:
    """Fit DFR on ``held_out`` (split name -> dataset), evaluate the retrained model on ``eval_datasets``,
    save it, and append its ``results.jsonl`` line (``results_record``: the run's last line, whose args,
    hparams and step it keeps). Returns that line."""
    args = trainer.args
    model = trainer.accelerator.unwrap_model(trainer.model)
    features, labels, groups = [], [], []
    for split in held_out.values():
        split_features, split_labels = penultimate_features(
            model,
            split,
            collate_fn=trainer.data_collator,
            batch_size=args.eval_batch_size,
            device=args.device,
            domain_column=args.domain_column,
            attribute_columns=attribute_columns,
        )
        features.append(split_features)
        labels.append(split_labels)
        groups += held_out_groups(split, split_labels, attribute_columns)
    fit = fit_dfr(np.concatenate(features), np.concatenate(labels), groups, seed=args.seed)
    dfr_model = apply_dfr(copy.deepcopy(model), fit)
    original = trainer.model
    trainer.model = dfr_model
    try:
        metrics = trainer.evaluate(dict(eval_datasets), metric_key_prefix="dfr")
    finally:
        trainer.model = original
    record = {
        **{key: value for key, value in results_record.items() if not _is_split_metric(key, eval_datasets)},
        "args": {**results_record["args"], "algorithm": f"{results_record['args']['algorithm']}+dfr"},
        "dfr": True,
        "dfr_c": fit.c,
        "dfr_rows": {name: len(split) for name, split in held_out.items()},
        "dfr_summary": fit.summary(),
    }
    prefix = "dfr_"
    for key, value in metrics.items():
        name = key[len(prefix) :] if key.startswith(prefix) else None
        timing = name and name.endswith(("_runtime", "_samples_per_second", "_steps_per_second"))
        if name and not timing and any(name.startswith(f"{split}_") for split in eval_datasets):
            record[name] = None if isinstance(value, float) and math.isnan(value) else value  # strict JSON
    if trainer.is_world_process_zero():
        folder = os.path.join(args.output_dir, DFR_DIR)
        dfr_model.save_pretrained(folder)
        with open(os.path.join(folder, DFR_FILE), "w", encoding="utf-8") as handle:
            json.dump({**fit.to_dict(), "held_out_splits": list(held_out), "summary": fit.summary()}, handle)
        _replace_dfr_line(os.path.join(args.output_dir, RESULTS_FILE), record)
    return record


def _is_split_metric(key: str, splits: Mapping[str, Any]) -> bool:
    return any(key.startswith(f"{name}_") for name in splits)


def _replace_dfr_line(path: str, record: dict[str, Any]) -> None:
    """Append the DFR line, dropping one an interrupted earlier finish wrote (atomic rewrite)."""
    with open(path, encoding="utf-8") as handle:
        kept = [line for line in handle if line.strip() and not json.loads(line).get("dfr")]
    kept.append(json.dumps(record, sort_keys=True, allow_nan=False) + "\n")
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.writelines(kept)
    os.replace(path + ".tmp", path)
