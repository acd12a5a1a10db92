"""What seed categories hold: their make-up in ground-truth attributes at every regroup (issue 12).

The paper claims that loss-ranked seed categories gather the minority patterns a model handles badly.
On ColoredMNIST the minority is known: the samples whose colour disagrees with their (noisy) label
(``color_agrees == 0``). At every regroup this module measures, for each seed category, its size and
the share of colour-disagreeing and of label-flipped samples, and for each domain how well its hardest
category catches the minority: precision (the minority's share of the category), recall (the share of the
domain's minority inside it), enrichment (precision over the domain's base rate) and the loss AUC (the
probability that a minority sample out-ranks a majority sample in the loss the regroup used).

The attributes are read from the training dataset's columns here, for the report only: they never reach
the model, the grouping or the sampler. A dataset without them gets no report and no error.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from transformers import TrainerCallback

logger = logging.getLogger(__name__)

COMPOSITION_FILE = "group_composition.jsonl"
COMPOSITION_FIGURE = "group_composition.png"
#: share name -> (attribute column, value): the share of a category's samples whose column has that value.
DEFAULT_SHARES: dict[str, tuple[str, int]] = {
    "color_disagrees": ("color_agrees", 0),  # the true minority of ColoredMNIST: colour contradicts the label
    "label_flipped": ("label_flipped", 1),  # the 25% label noise: shape contradicts the label
}
DEFAULT_MINORITY = "color_disagrees"


def read_attributes(dataset: Any, shares: Mapping[str, tuple[str, int]]) -> dict[str, torch.Tensor]:
    """The boolean indicator of every share whose column the dataset has (``{}`` when it has none)."""
    columns = getattr(dataset, "column_names", None) or []
    wanted = sorted({column for column, _ in shares.values() if column in columns})
    if not wanted:
        return {}
    values = dataset.select_columns(wanted).with_format("numpy")[:]
    return {
        name: torch.as_tensor(np.asarray(values[column]) == value)
        for name, (column, value) in shares.items()
        if column in values
    }


def loss_auc(losses: torch.Tensor, positive: torch.Tensor) -> float | None:
    """P(loss of a positive > loss of a negative), ties counting half (Mann-Whitney); None if one side is empty."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(losses.numpy())
    return float((ranks[positive.numpy()].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def group_composition(
    group_ids: torch.Tensor,
    group_names: Sequence[str],
    units: torch.Tensor,
    unit_names: Sequence[str],
    indicators: Mapping[str, torch.Tensor],
    losses: torch.Tensor | None = None,
    minority: str = DEFAULT_MINORITY,
) -> dict[str, Any]:
    """The make-up of every category and how each unit's hardest category catches ``minority``.

    Groups are laid out ``unit * K + k`` (every grouper's layout). The hardest category of a unit is the
    one with the highest mean ``losses`` when given, else the last (``k = K - 1``, the highest loss
    quantile). Returns ``{"categories": [...], "units": [...]}`` with plain floats, ready for JSON.
    """
    num_units = len(unit_names)
    k = max(1, len(group_names) // num_units)
    categories = []
    for g, name in enumerate(group_names):
        members = group_ids == g
        size = int(members.sum())
        unit = g // k
        entry: dict[str, Any] = {"group": name, "unit": unit_names[unit], "size": size}
        if losses is not None and size:
            entry["mean_loss"] = float(losses[members].mean())
        for share, flags in indicators.items():
            entry[share] = float(flags[members].float().mean()) if size else None
        if minority in indicators:
            in_unit = indicators[minority] & (units == unit)
            total = int(in_unit.sum())
            entry["minority_recall"] = float((in_unit & members).sum()) / total if total else None
        categories.append(entry)

    unit_records = []
    for unit, unit_name in enumerate(unit_names):
        members = units == unit
        record: dict[str, Any] = {"unit": unit_name, "size": int(members.sum())}
        for share, flags in indicators.items():
            record[share] = float(flags[members].float().mean())
        own = categories[unit * k : (unit + 1) * k]
        if losses is not None and all("mean_loss" in c for c in own):
            hardest = max(own, key=lambda c: c["mean_loss"])
        else:
            hardest = own[-1]
        record["hardest"] = hardest["group"]
        if minority in indicators:
            base = record[minority]
            precision = hardest[minority]
            record["hardest_precision"] = precision
            record["hardest_recall"] = hardest["minority_recall"]
            record["hardest_enrichment"] = precision / base if base and precision is not None else None
            if losses is not None:
                record["loss_auc"] = loss_auc(losses[members], indicators[minority][members])
        unit_records.append(record)
    return {"minority": minority if minority in indicators else None, "categories": categories, "units": unit_records}


def composition_logs(record: Mapping[str, Any]) -> dict[str, float]:
    """The record flattened for ``Trainer.log``: ``composition/<group>/<share>``, ``composition/<unit>/hardest_*``."""
    logs: dict[str, float] = {}
    for category in record["categories"]:
        for key, value in category.items():
            if key not in ("group", "unit", "size") and isinstance(value, float):
                logs[f"composition/{category['group']}/{key}"] = round(value, 6)
    for unit in record["units"]:
        for key in ("hardest_precision", "hardest_recall", "hardest_enrichment", "loss_auc"):
            if isinstance(unit.get(key), float):
                logs[f"composition/{unit['unit']}/{key}"] = round(unit[key], 6)
    return logs


def regroup_summary(record: Mapping[str, Any]) -> str | None:
    """One sentence for one regroup's record: per unit, the minority's share of its hardest category (beside the
    unit's base rate) and the share of the unit's minority caught there; None without a minority column.

    ``step 100: +90%:3 holds 35.2% color_disagrees (domain 9.9%), catching 80.1% of them; +80%:3 holds ...``
    """
    minority = record.get("minority")
    parts = []
    for unit in record["units"]:
        if unit.get("hardest_precision") is None or unit.get("hardest_recall") is None:
            continue
        share = f"{100 * unit['hardest_precision']:.1f}%" + (f" {minority}" if not parts else "")
        parts.append(
            f"{unit['hardest']} holds {share} (domain {100 * unit[minority]:.1f}%), "
            f"catching {100 * unit['hardest_recall']:.1f}% of them"
        )
    return f"step {record['step']}: " + "; ".join(parts) if parts else None


class GroupCompositionCallback(TrainerCallback):
    """After every regroup of a ``SeedCatTrainer``: the composition record to the logs and to
    ``output_dir/group_composition.jsonl``; at the end of training, the figure (if matplotlib is there).

    The trainer adds it after its ``RegroupCallback``, so it runs once the new groups exist. It reads the
    training dataset's attribute columns once; without them it does nothing.
    """

    def __init__(
        self,
        trainer: Any,
        shares: Mapping[str, tuple[str, int]] | None = None,
        minority: str = DEFAULT_MINORITY,
        figure: bool = True,
    ) -> None:
        self.trainer = trainer
        self.shares = dict(DEFAULT_SHARES if shares is None else shares)
        self.minority = minority
        self.figure = figure
        self._indicators: dict[str, torch.Tensor] | None = None
        self._recorded_step: int | None = None
        self.history: list[dict[str, Any]] = []

    @property
    def path(self) -> str:
        return os.path.join(self.trainer.args.output_dir, COMPOSITION_FILE)

    def _attributes(self) -> dict[str, torch.Tensor]:
        if self._indicators is None:
            self._indicators = read_attributes(self.trainer.train_dataset, self.shares)
        return self._indicators

    def on_train_begin(self, args, state, control, **kwargs):
        if not self._attributes():
            return
        # A resumed run keeps the lines up to its checkpoint (whose regroup is already recorded there).
        if state.is_world_process_zero and os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as handle:
                kept = [line for line in handle if line.strip() and json.loads(line)["step"] <= state.global_step]
            with open(self.path + ".tmp", "w", encoding="utf-8") as handle:
                handle.writelines(kept)
            os.replace(self.path + ".tmp", self.path)
            if kept:
                self._recorded_step = json.loads(kept[-1])["step"]
        self._record(state, control)

    def on_step_end(self, args, state, control, **kwargs):
        if self._attributes():
            self._record(state, control)

    def _record(self, state, control) -> None:
        trainer = self.trainer
        categories = trainer.seed_categories
        step = categories.last_regroup_step
        if (
            step is None
            or categories.group_ids is None
            or (self._recorded_step is not None and step <= self._recorded_step)
        ):
            return
        self._recorded_step = step
        composition = group_composition(
            categories.group_ids,
            categories.group_names,
            categories.units,
            categories.unit_names,
            self._attributes(),
            categories.regroup_losses,
            self.minority,
        )
        record = {"step": step, **composition}
        self.history.append(record)
        if state.is_world_process_zero:
            os.makedirs(trainer.args.output_dir, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
        if (summary := regroup_summary(record)) is not None:
            logger.info(summary)
        # Its own log line, at the regroup's step. Trainer.log clears should_log, which would drop this step's
        # regular log (and merge its loss into the next one): keep the flag as it was.
        should_log = control.should_log
        trainer.log(composition_logs(composition))
        control.should_log = should_log

    def on_train_end(self, args, state, control, **kwargs):
        if not self.figure or not self.history or not state.is_world_process_zero:
            return
        try:
            composition_figure(args.output_dir)
        except ImportError as error:  # matplotlib is the optional `analysis` extra
            logger.info("No composition figure: %s", error)


def read_composition(run_dir: str) -> list[dict[str, Any]]:
    """The records of a run's ``group_composition.jsonl`` (empty if it has none)."""
    path = os.path.join(run_dir, COMPOSITION_FILE)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def composition_figure(run_dir: str, path: str | None = None) -> str | None:
    """Composition over training (each domain's hardest category: minority and label-flipped shares, with
    the domain's base rates) above the accuracy curves of ``results.jsonl``; returns the PNG's path, or
    None when the run has no composition records."""
    records = read_composition(run_dir)
    if not records or records[0].get("minority") is None:
        return None
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("The figure needs matplotlib: pip install 'hf_seedcat[analysis]'.") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results_path = os.path.join(run_dir, "results.jsonl")
    results = []
    if os.path.exists(results_path):
        with open(results_path, encoding="utf-8") as handle:
            results = [json.loads(line) for line in handle if line.strip()]
    last_step = max([r["step"] for r in results] + [records[-1]["step"]])
    minority = records[0]["minority"]
    steps = [r["step"] for r in records]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), dpi=120, sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, unit in enumerate(u["unit"] for u in records[0]["units"]):
        color = colors[i % len(colors)]
        rows = [next(u for u in r["units"] if u["unit"] == unit) for r in records]
        x = [*steps, last_step]
        precision = [row.get("hardest_precision") for row in rows]
        top.step(x, [*precision, precision[-1]], where="post", color=color, label=f"{unit}: {minority}, hardest")
        if "label_flipped" in rows[0]:
            hardest_names = [row["hardest"] for row in rows]
            flipped = [
                next(c for c in r["categories"] if c["group"] == name).get("label_flipped")
                for r, name in zip(records, hardest_names, strict=True)
            ]
            top.step(x, [*flipped, flipped[-1]], where="post", color=color, ls="--", label=f"{unit}: flipped, hardest")
        top.axhline(rows[0][minority], color=color, ls=":", lw=1, label=f"{unit}: {minority}, domain base rate")
    top.set_ylabel("share of the hardest seed category")
    top.set_ylim(0, 1)
    top.legend(fontsize=7, ncol=2, loc="upper left")
    top.set_title(f"{os.path.basename(os.path.abspath(run_dir))}: what the hardest category holds", fontsize=9)
    if results:
        args = results[0].get("args", {})
        test_envs = args.get("test_envs", [])
        names = args.get("environments")
        envs = sorted({int(k[3:].split("_")[0]) for k in results[0] if k.startswith("env") and k.endswith("_acc")})
        for env in envs:
            split = "in" if env in test_envs and f"env{env}_in_acc" in results[0] else "out"
            key = f"env{env}_{split}_acc"
            label = f"env{env}{f' {names[env]}' if names else ''} {split}{' (test)' if env in test_envs else ''}"
            bottom.plot(
                [r["step"] for r in results],
                [r.get(key) for r in results],
                lw=2 if env in test_envs else 1,
                label=label,
            )
        bottom.legend(fontsize=7)
    for step in steps:
        for axis in (top, bottom):
            axis.axvline(step, color="grey", lw=0.5, alpha=0.5)
    bottom.set_ylabel("accuracy")
    bottom.set_xlabel("step (grey lines: regroups)")
    bottom.set_ylim(0, 1)
    fig.tight_layout()
    path = path or os.path.join(run_dir, COMPOSITION_FIGURE)
    fig.savefig(path)
    plt.close(fig)
    return path
