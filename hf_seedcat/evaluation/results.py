"""DomainBed's ``results.jsonl``: one line per checkpoint, so DomainBed-style model selection can read runs."""

from __future__ import annotations

import json
import math
import os
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers import TrainerCallback

from ..provenance import code_version

RESULTS_FILE = "results.jsonl"
GROUP_KEYS = ("worst_group_acc", "group_mean_acc")  # per split, with attribute columns: env1_out_worst_group_acc
CLASS_KEYS = ("worst_class_acc",)  # per split, always (labels only): env1_out_worst_class_acc, validation_...
EMPTY_GROUP_KEYS = ("groups_empty", "empty_groups")  # per split, with expected groups: a bool, and their names
SPLIT_KEY_PREFIXES = ("acc_group_", "acc_class_")  # per group and per class: env1_out_acc_class_0


class ResultsJsonlCallback(TrainerCallback):
    """Writes ``step``, ``epoch``, ``loss``, ``step_time``, ``mem_gb``, ``<split>_acc``, args, hparams,
    and ``code_version`` (``provenance.code_version``: the commit that made the line); every split also
    ``<split>_worst_class_acc`` and ``<split>_acc_class_<label>``; with attribute columns also
    ``<split>_worst_group_acc``, ``..._group_mean_acc`` and ``..._acc_group_<group>``, and with expected
    groups ``..._groups_empty`` (and ``..._empty_groups``, the names, where some are). The splits are
    DomainBed's ``env{i}_in`` / ``env{i}_out`` for a dataset of domains, ``validation`` / ``test`` for one
    that comes split. A NaN (an empty group's accuracy) is written as null, so every line is valid JSON.

    ``Trainer.evaluate`` on a dict of splits reports each split separately; the line is written once
    every expected split of the current step has reported, with what each of ``extra_metrics`` (called
    with the step, on every process) adds, e.g. ``ReferenceValidation.metrics``. On resume, lines past the checkpoint's
    step are dropped so the file never holds a step twice.
    """

    def __init__(
        self,
        output_dir: str,
        split_names: Sequence[str],
        run_args: dict[str, Any],
        hparams: dict[str, Any],
        is_main_process: bool = True,
        extra_metrics: Sequence[Callable[[int], dict[str, Any]]] = (),
    ) -> None:
        self.path = os.path.join(output_dir, RESULTS_FILE)
        self.split_names = list(split_names)
        self.run_args = run_args
        self.hparams = hparams
        self.is_main_process = is_main_process
        self.extra_metrics = list(extra_metrics)
        self._pending: dict[str, float | None] = {}
        self._step_times: list[float] = []
        self._step_start = 0.0
        self._last_loss: float | None = None
        self.code_version = code_version()  # now, before the checkout can change under a long run

    def on_train_begin(self, args, state, control, **kwargs):
        if self.is_main_process and os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as handle:
                kept = [line for line in handle if line.strip() and json.loads(line)["step"] <= state.global_step]
            tmp = self.path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.writelines(kept)
            os.replace(tmp, self.path)

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._step_times.append(time.perf_counter() - self._step_start)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self._last_loss = float(logs["loss"])

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        for name in self.split_names:
            key = f"eval_{name}_acc"
            if metrics and key in metrics:
                self._pending[f"{name}_acc"] = float(metrics[key])
                # Worst-class and per-class accuracy of the split; with attribute columns also worst-group,
                # mean-over-groups and per-group accuracy, and which groups had no sample.
                prefix = f"eval_{name}_"
                for metric, value in metrics.items():
                    suffix = metric[len(prefix) :] if metric.startswith(prefix) else ""
                    if suffix in GROUP_KEYS + CLASS_KEYS or suffix.startswith(SPLIT_KEY_PREFIXES):
                        self._pending[f"{name}_{suffix}"] = float(value)
                    elif suffix in EMPTY_GROUP_KEYS:
                        self._pending[f"{name}_{suffix}"] = bool(value) if suffix == "groups_empty" else str(value)
        if sum(f"{name}_acc" in self._pending for name in self.split_names) < len(self.split_names):
            return
        for extra in self.extra_metrics:
            self._pending.update(extra(state.global_step))
        record: dict[str, Any] = {
            "args": self.run_args,
            "hparams": self.hparams,
            "step": state.global_step,
            "epoch": state.epoch,
            "loss": self._last_loss,
            "step_time": sum(self._step_times) / len(self._step_times) if self._step_times else None,
            "mem_gb": peak_memory_gb(),
            "code_version": self.code_version,
            **self._pending,
        }
        self._pending = {}
        self._step_times = []
        if self.is_main_process:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(json_safe(record), sort_keys=True, allow_nan=False) + "\n")


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float, however deeply nested, replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def peak_memory_gb() -> float:
    """Peak CUDA memory allocated when on GPU, else the process's peak resident memory."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def read_results(path: str) -> list[dict[str, Any]]:
    """The records of one run's ``results.jsonl`` (a run folder or the file itself)."""
    if os.path.isdir(path):
        path = os.path.join(path, RESULTS_FILE)
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
