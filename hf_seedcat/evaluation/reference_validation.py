"""Label-free model selection: accuracy on the validation rows a fixed, early model found hard.

Why: under DomainBed's training-domain validation every algorithm picks a colour-only ColoredMNIST
checkpoint, because the training domains' validation splits reward the shortcut as much as training
does; test-domain (oracle) selection reads the test domain's labels. A selection rule that reads
neither test-domain labels nor attribute labels can only use the training domains' validation rows and
their class labels. This one asks which of those rows the shortcut gets wrong, without being told what
the shortcut is: a *reference* model, this run's own at a fixed early step, has fitted the majority
pattern and not yet the minority one, so its hardest validation rows hold the minority pattern. A later
checkpoint's accuracy on those fixed rows then measures how far it has learned beyond the shortcut.

The reference is fixed (taken once, at the first evaluation at or after ``reference_step``) because the
model's own seed categories move with every regroup, and a rule that moved with them would swing too.
Two sets of rows are fixed per training domain, from the reference model's losses and predictions on
that domain's out split, and both are logged at every later evaluation:

- ``ref_quantile_acc``: the hardest of ``reference_quantiles`` loss quantiles, the same loss-ranking
  rule as the seed categories (the paper's K = 4 gives the hardest quarter);
- ``ref_error_acc``: the rows the reference misclassifies (like JTT's error set, on validation rows).

Both are the mean over training domains of the per-domain accuracy, as DomainBed's training-domain
validation averages the out splits. Where the minority pattern is rarer than 1 / K of a domain, the
hardest quantile also holds majority rows with noisy labels; the error set adapts its size instead.
Which rows are hard is written to ``reference_rows.json`` in the run's folder, so a resumed run keeps
them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from .model_selection import DEFAULT_REFERENCE_STEP, REFERENCE_KEYS

REFERENCE_FILE = "reference_rows.json"
DEFAULT_REFERENCE_QUANTILES = 4


def hard_rows(losses: np.ndarray, predictions: np.ndarray, labels: np.ndarray, quantiles: int) -> dict[str, list]:
    """The rows a reference model found hard: its hardest loss quantile (the top ``ceil(n / quantiles)``
    losses, ties broken by row order) and the rows it misclassifies."""
    if quantiles < 1:
        raise ValueError(f"reference_quantiles must be a positive integer, got {quantiles}.")
    n = len(losses)
    order = np.argsort(-np.asarray(losses, dtype=np.float64), kind="stable")
    quantile = sorted(order[: math.ceil(n / quantiles)].tolist())
    errors = np.flatnonzero(np.asarray(predictions) != np.asarray(labels)).tolist()
    return {"ref_quantile_acc": quantile, "ref_error_acc": errors}


def reference_split_names(split_names: Sequence[str], test_envs: Sequence[int]) -> list[str]:
    """The training domains' out splits among the evaluated ones: all the rule may read (no test domain)."""
    test = {f"env{env}_out" for env in test_envs}
    return [name for name in split_names if name.endswith("_out") and name not in test and name.startswith("env")]


class ReferenceValidation(TrainerCallback):
    """Fixes the reference rows at ``reference_step`` and gives, at every evaluation from then on, the two
    rules' accuracies for ``ResultsJsonlCallback`` to write (``metrics``); before the reference, nothing.

    ``splits`` must hold only training domains' out splits (``reference_split_names``): the rule is
    label-free for the test domains because it never holds their rows. Only the class labels of these
    rows are read; attribute columns are ignored. Every process computes the same values (``Trainer.predict``
    gathers across processes), only the main one writes the file.
    """

    def __init__(
        self,
        splits: Mapping[str, Any],
        output_dir: str,
        reference_step: int = DEFAULT_REFERENCE_STEP,
        quantiles: int = DEFAULT_REFERENCE_QUANTILES,
        is_main_process: bool = True,
    ) -> None:
        if reference_step < 0:
            raise ValueError(f"reference_step must be a step number (0 or more), got {reference_step}.")
        if quantiles < 1:
            raise ValueError(f"reference_quantiles must be a positive integer, got {quantiles}.")
        self.splits = dict(splits)
        self.path = os.path.join(output_dir, REFERENCE_FILE)
        self.reference_step = reference_step
        self.quantiles = quantiles
        self.is_main_process = is_main_process
        self.trainer: Any = None
        self.reference: dict[str, Any] | None = None  # {"step": int, "rows": {split: {key: [row, ...]}}}

    def attach(self, trainer: Any) -> ReferenceValidation:
        """The trainer whose model is evaluated (``Trainer.predict``), and its callback list."""
        self.trainer = trainer
        trainer.add_callback(self)
        return self

    def on_train_begin(self, args, state, control, **kwargs):
        self.reference = None
        if os.path.exists(self.path):  # a resumed run keeps the rows its reference fixed
            with open(self.path, encoding="utf-8") as handle:
                saved = json.load(handle)
            if saved["step"] <= state.global_step and saved["quantiles"] == self.quantiles:
                self.reference = saved

    def metrics(self, step: int) -> dict[str, float | None]:
        """The rules' values for the model at ``step`` (fixing the reference first when it is due)."""
        if self.trainer is None:
            raise RuntimeError("ReferenceValidation.attach(trainer) was not called.")
        if self.reference is None and step < self.reference_step:
            return {}
        outputs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if self.reference is None:
            outputs = {name: self._predict(split) for name, split in self.splits.items()}
            self.reference = {
                "step": step,
                "quantiles": self.quantiles,
                "rows": {name: hard_rows(*output, self.quantiles) for name, output in outputs.items()},
            }
            self._save()
        metrics: dict[str, float | None] = {"ref_step": self.reference["step"]}
        per_key: dict[str, list[float]] = {key: [] for key in REFERENCE_KEYS}
        for name, split in self.splits.items():
            rows = self.reference["rows"][name]
            needed = sorted(set().union(*rows.values()))  # only the hard rows are read after the reference
            correct = {}
            if name in outputs:  # the reference step: the whole split was just predicted, read it there
                _, predictions, labels = outputs[name]
                correct = {row: bool(predictions[row] == labels[row]) for row in needed}
            elif needed:
                _, predictions, labels = self._predict(split.select(needed))
                correct = dict(zip(needed, (predictions == labels).tolist(), strict=True))
            for key in REFERENCE_KEYS:
                accuracy = float(np.mean([correct[row] for row in rows[key]])) if rows[key] else None
                metrics[f"{name}_{key}"] = accuracy
                if accuracy is not None:
                    per_key[key].append(accuracy)
        for key, accuracies in per_key.items():
            metrics[key] = float(np.mean(accuracies)) if accuracies else None  # None: no hard rows at all
        return metrics

    def _predict(self, split: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-row cross-entropy, predicted class and class label of ``split`` under the current model."""
        output = self.trainer.predict(split, metric_key_prefix="reference")
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        labels = output.label_ids[0] if isinstance(output.label_ids, tuple) else output.label_ids
        logits = torch.as_tensor(np.asarray(logits, dtype=np.float32))
        labels_tensor = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        losses = F.cross_entropy(logits, labels_tensor, reduction="none").numpy()
        return losses, logits.argmax(dim=-1).numpy(), labels_tensor.numpy()

    def _save(self) -> None:
        if not self.is_main_process:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.reference, handle)
        os.replace(tmp, self.path)
