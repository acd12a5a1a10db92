"""What a run prints while it trains: Trainer's progress bar and one short line per log, not the raw log dicts.

Trainer prints every log dict whole (``PrinterCallback``, or ``ProgressCallback`` under its bar). A seed-category
run logs q, the mean loss and the size of every group at every log, and at every regroup the make-up of every
category (``analysis/composition.py``): dicts of 40 values and more, console lines of thousands of characters
that bury the loss. ``ConsoleLogCallback`` takes their place in a ``SeedCatTrainer`` and prints one line of at
most ``MAX_LINE`` characters per log: the step, the loss, the learning rate, the largest q and its group, an
evaluation's accuracy, what each domain's hardest category holds after a regroup. It only prints: the logs
themselves are untouched, so ``trainer_state.json``, TensorBoard and ``results.jsonl`` keep every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import PrinterCallback, ProgressCallback, Trainer

MAX_LINE = 200  # characters: one line of a wide terminal, and of a log file read with less
SEPARATOR = "  "
#: composition/<unit>/<key>: a domain's own values; every other composition key names a category.
UNIT_KEYS = ("hardest_precision", "hardest_recall", "hardest_enrichment", "loss_auc")


def fit(line: str, width: int = MAX_LINE) -> str:
    """``line`` cut to ``width`` characters, marked with an ellipsis where it was cut (a guard for long names)."""
    return line if len(line) <= width else line[: width - 1] + "…"


def number(value: Any) -> str:
    """A logged value the way a person reads it: four significant digits, no trailing noise."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def largest_q(logs: Mapping[str, Any]) -> str | None:
    """``max q 0.412 (+90%:3)``: the heaviest group and its weight, or None when the log holds no q."""
    weights = {key.removeprefix("q/"): value for key, value in logs.items() if key.startswith("q/")}
    if not weights:
        return None
    group = max(weights, key=weights.get)
    return f"max q {weights[group]:.3f} ({group}, uniform {1 / len(weights):.3f})"


def evaluation_line(logs: Mapping[str, Any]) -> str | None:
    """``eval env2_in: acc 11.8%, worst group 3.1%, loss 1.745`` for one evaluated split (Trainer logs each
    split of a dict of evaluation sets on its own, its keys prefixed ``eval_<split>_``)."""
    runtime = next((key for key in logs if key.startswith("eval") and key.endswith("_runtime")), None)
    if runtime is None:
        return None
    prefix = runtime.removesuffix("_runtime")
    split = prefix.removeprefix("eval").removeprefix("_")
    parts = []
    for key, label in (("acc", "acc"), ("worst_group_acc", "worst group"), ("worst_domain_acc", "worst domain")):
        if isinstance(logs.get(f"{prefix}_{key}"), float):
            parts.append(f"{label} {100 * logs[f'{prefix}_{key}']:.1f}%")
    if f"{prefix}_loss" in logs:
        parts.append(f"loss {number(logs[f'{prefix}_loss'])}")
    return f"eval{' ' + split if split else ''}: " + ", ".join(parts)


def composition_line(logs: Mapping[str, Any]) -> str | None:
    """``composition: +90% hardest 61.2% minority (catches 88.0%); ...`` from a regroup's composition log: per
    domain, the minority's share of its hardest category and the share of the domain's minority caught there.
    Where each domain is one category (ERM's, GroupDRO's groups) the share is the domain's own."""
    keys = [key for key in logs if key.startswith("composition/")]
    if not keys:
        return None
    units = [key.split("/")[1] for key in keys if key.endswith("/hardest_precision")]
    categories = {key.split("/")[1] for key in keys if key.rsplit("/", 1)[1] not in UNIT_KEYS}
    if units and categories == set(units):
        shares = ", ".join(f"{unit} {100 * logs[f'composition/{unit}/hardest_precision']:.1f}%" for unit in units)
        return f"composition: one category per domain, minority share {shares}"
    parts = []
    for unit in units:
        precision = logs[f"composition/{unit}/hardest_precision"]
        recall = logs.get(f"composition/{unit}/hardest_recall")
        part = f"{unit} hardest {100 * precision:.1f}% minority"
        parts.append(part + (f" (catches {100 * recall:.1f}%)" if isinstance(recall, float) else ""))
    return "composition: " + ("; ".join(parts) if parts else f"{len(keys)} values logged")


def summary_line(logs: Mapping[str, Any], step: int, max_steps: int) -> str:
    """One line for one log dict: the step first, then what kind of log it is and its few values worth reading."""
    head = f"step {step}/{max_steps}"
    if "loss" in logs:
        parts = [f"loss {number(logs['loss'])}"]
        if "learning_rate" in logs:
            parts.append(f"lr {logs['learning_rate']:.2e}")
        if (q := largest_q(logs)) is not None:
            parts.append(q)
        return fit(SEPARATOR.join([head, *parts]))
    if "train_runtime" in logs:
        seconds = logs["train_runtime"]
        per_step = f" ({seconds / step:.2f} s/step)" if step else ""
        loss = f", mean loss {number(logs['train_loss'])}" if "train_loss" in logs else ""
        return fit(f"{head}  trained in {seconds:.0f} s{per_step}{loss}")
    for describe in (evaluation_line, composition_line):
        if (line := describe(logs)) is not None:
            return fit(f"{head}  {line}")
    if (q := largest_q(logs)) is not None:  # the window's last q, logged before a regroup restarts it
        return fit(f"{head}  end of window: {q}")
    shown = [f"{key} {number(value)}" for key, value in logs.items() if key not in ("epoch", "total_flos")]
    return fit(SEPARATOR.join([head, *shown]))


class ConsoleLogCallback(ProgressCallback):
    """Trainer's progress bars (unless ``bars`` is False, as with ``--disable_tqdm``) and one short line per log.

    A ``ProgressCallback`` whose ``on_log`` prints ``summary_line`` above the bar instead of the dict; only the
    main process prints, as Trainer's bar does.
    """

    def __init__(self, bars: bool = True) -> None:
        super().__init__()
        self.bars = bars

    def on_train_begin(self, args, state, control, **kwargs):
        if self.bars:
            super().on_train_begin(args, state, control, **kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bars:
            super().on_step_end(args, state, control, **kwargs)

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if self.bars:
            super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bars:
            super().on_train_end(args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        line = summary_line(logs, state.global_step, state.max_steps)
        if self.training_bar is not None:
            self.training_bar.write(line)  # above the bar, which stays at the bottom
        else:
            print(line, flush=True)


def use_console_log(trainer: Trainer) -> None:
    """Put a ``ConsoleLogCallback`` where Trainer put its printing callback (``PrinterCallback`` with
    ``disable_tqdm``, else ``ProgressCallback``). A trainer without either (a notebook's, or one whose printer
    was removed) is left as it is."""
    printers = [cb for cb in trainer.callback_handler.callbacks if type(cb) in (PrinterCallback, ProgressCallback)]
    if not printers:
        return
    for printer in printers:
        trainer.remove_callback(printer)
    trainer.add_callback(ConsoleLogCallback(bars=not trainer.args.disable_tqdm))
