"""Checking the label-free rules with the attributes they never read.

A rule that reads no attribute labels should still track what the attributes measure: the worst-group
accuracy (label x attribute, e.g. ColoredMNIST's ``color_agrees``) on the training domains' validation
splits. Per run, across its checkpoints, this module gives the Spearman rank correlation between each rule's
logged value and that worst-group accuracy (the lowest over the training domains' out splits, as the
``val_worst_group`` rule reads it), and which step every selection rule picks with the test accuracy
there. Runs without attribute columns, or made before the rules existed, are left out and counted.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import spearmanr

from .model_selection import REFERENCE_KEYS, SELECTION_METHODS, Record, RunKey, Runs, group_runs, validation_worst

RULE_NAMES = {"ref_quantile_acc": "reference_quantile", "ref_error_acc": "reference_errors"}
"""Each logged rule value and the selection method that reads it."""


def validation_worst_group(record: Record, test_envs: Sequence[int]) -> float | None:
    """The training domains' validation worst-group accuracy as ``val_worst_group`` reads it: the lowest
    over their out splits (the worst domain x group cell); None without attribute columns."""
    return validation_worst(record, test_envs, "worst_group_acc")


@dataclass(frozen=True)
class RuleCheck:
    """One run: each rule's Spearman correlation with validation worst-group accuracy over its checkpoints
    (None where either is constant), the checkpoints counted, and each selection method's pick."""

    key: RunKey
    correlations: dict[str, float | None]
    checkpoints: int
    picks: dict[str, tuple[int, float]]  # selection method -> (step, test accuracy)


def check_run(runs: Runs, key: RunKey) -> RuleCheck | None:
    """The check of one single-test-environment run; None if it lacks the rules' values or attributes."""
    records = runs[key]
    paired = [
        (record, validation_worst_group(record, key.test_envs))
        for record in records
        if all(record.get(rule) is not None for rule in REFERENCE_KEYS)
    ]
    paired = [(record, worst) for record, worst in paired if worst is not None]
    if len(key.test_envs) != 1 or len(paired) < 2:
        return None
    worst = [value for _, value in paired]
    correlations: dict[str, float | None] = {}
    for rule in REFERENCE_KEYS:
        values = [record[rule] for record, _ in paired]
        rho = spearmanr(values, worst).statistic if len(set(values)) > 1 and len(set(worst)) > 1 else math.nan
        correlations[rule] = None if math.isnan(rho) else float(rho)
    picks = {}
    for method, (_, select) in SELECTION_METHODS.items():
        chosen = select(runs, key)
        if chosen is not None:
            picks[method] = (chosen.step, chosen.test_acc)
    return RuleCheck(key, correlations, len(paired), picks)


def check_rules(records: Sequence[Record]) -> list[RuleCheck]:
    """Every run's check, in run order (dataset, algorithm, test environment, trial, sample)."""
    runs = group_runs(records)
    checks = [check_run(runs, key) for key in sorted(runs, key=_order)]
    return [check for check in checks if check is not None]


def _order(key: RunKey) -> tuple:
    return (key.dataset, key.algorithm, key.test_envs, key.trial_seed, key.hparams_seed)


def rule_check_markdown(checks: Sequence[RuleCheck]) -> str:
    """A summary per rule (median and range of the correlations, n runs) and each run's picks."""
    if not checks:
        return ""
    lines = [
        "### Label-free rules against validation worst-group accuracy (attributes the rules never read)",
        "",
        "Spearman correlation, per run across its checkpoints from the rules' reference step on, between the rule "
        "and the training domains' validation worst-group accuracy (the lowest over their out splits, as "
        "val_worst_group reads it).",
        "",
        "| rule | median | range | n runs |",
        "| --- | --- | --- | --- |",
    ]
    for rule, method in RULE_NAMES.items():
        values = [check.correlations[rule] for check in checks if check.correlations[rule] is not None]
        undefined = len(checks) - len(values)
        note = f" ({undefined} constant, left out)" if undefined else ""
        if values:
            lines.append(
                f"| {SELECTION_METHODS[method][0]} | {statistics.median(values):.2f} | "
                f"{min(values):.2f} to {max(values):.2f} | {len(values)}{note} |"
            )
        else:
            lines.append(f"| {SELECTION_METHODS[method][0]} | — | — | 0{note} |")
    methods = list(SELECTION_METHODS)
    header = ["run", "checkpoints", *(f"ρ {name}" for name in RULE_NAMES.values()), *methods]
    lines += [
        "",
        "Per run: the correlations, and the step each selection rule picks with the test accuracy (%) there.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    for check in checks:
        key = check.key
        name = f"{key.algorithm} test {key.test_envs[0]} trial {key.trial_seed} hp {key.hparams_seed}"
        rhos = ["—" if check.correlations[r] is None else f"{check.correlations[r]:.2f}" for r in RULE_NAMES]
        picks = [f"{check.picks[m][0]}: {100 * check.picks[m][1]:.1f}" if m in check.picks else "—" for m in methods]
        lines.append("| " + " | ".join([name, str(check.checkpoints), *rhos, *picks]) + " |")
    return "\n".join(lines)
