"""Evaluation: group accuracy (a local evaluate module), DomainBed's results.jsonl, model selection, tables
(DomainBed's and the worst-group one), and the window of evaluations that shows the swing.

Names are imported on first use (PEP 562): model selection and tables need neither ``evaluate`` nor the
metric's transformers imports, so reading a sweep does not load them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_exports

_EXPORTS = {
    "DONE_FILE": ".tables",
    "GROUP_ACCURACY": ".metrics",
    "REFERENCE_KEYS": ".model_selection",
    "RESULTS_FILE": ".results",
    "RULE_NAMES": ".selection_check",
    "SELECTION_METHODS": ".model_selection",
    "STANDARD_ERROR_CONVENTION": ".tables",
    "SWING_WINDOW_AFTER_STEP": ".swing",
    "WORST_KEYS": ".model_selection",
    "Choice": ".model_selection",
    "DomainAccuracy": ".metrics",
    "ReferenceValidation": ".reference_validation",
    "ResultsJsonlCallback": ".results",
    "RuleCheck": ".selection_check",
    "RunKey": ".model_selection",
    "RunWindow": ".swing",
    "Selected": ".model_selection",
    "SelectionRule": ".model_selection",
    "SweepResults": ".tables",
    "SwingTable": ".swing",
    "Table": ".tables",
    "WorstGroupTable": ".worst_group",
    "build_swing_tables": ".swing",
    "build_tables": ".tables",
    "build_worst_group_tables": ".worst_group",
    "check_rules": ".selection_check",
    "choose_step": ".model_selection",
    "environments_of": ".model_selection",
    "expected_group_names": ".metrics",
    "group_runs": ".model_selection",
    "is_split_based": ".model_selection",
    "last_step": ".model_selection",
    "load_group_accuracy": ".metrics",
    "load_sweep": ".tables",
    "plot_tables": ".tables",
    "read_results": ".results",
    "reference_split_names": ".reference_validation",
    "rule_check_markdown": ".selection_check",
    "run_window": ".swing",
    "select_trial": ".model_selection",
    "standard_error": ".tables",
    "swing_as_csv": ".swing",
    "tables_as_csv": ".tables",
    "train_envs_of": ".model_selection",
    "training_domain_validation": ".model_selection",
    "validation_splits": ".model_selection",
    "worst_group_as_csv": ".worst_group",
}

if TYPE_CHECKING:
    from .metrics import GROUP_ACCURACY, DomainAccuracy, expected_group_names, load_group_accuracy
    from .model_selection import (
        REFERENCE_KEYS,
        SELECTION_METHODS,
        WORST_KEYS,
        Choice,
        RunKey,
        Selected,
        SelectionRule,
        choose_step,
        environments_of,
        group_runs,
        is_split_based,
        last_step,
        select_trial,
        train_envs_of,
        training_domain_validation,
        validation_splits,
    )
    from .reference_validation import ReferenceValidation, reference_split_names
    from .results import RESULTS_FILE, ResultsJsonlCallback, read_results
    from .selection_check import RULE_NAMES, RuleCheck, check_rules, rule_check_markdown
    from .swing import SWING_WINDOW_AFTER_STEP, RunWindow, SwingTable, build_swing_tables, run_window, swing_as_csv
    from .tables import (
        DONE_FILE,
        STANDARD_ERROR_CONVENTION,
        SweepResults,
        Table,
        build_tables,
        load_sweep,
        plot_tables,
        standard_error,
        tables_as_csv,
    )
    from .worst_group import WorstGroupTable, build_worst_group_tables, worst_group_as_csv

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DONE_FILE",
    "GROUP_ACCURACY",
    "REFERENCE_KEYS",
    "RESULTS_FILE",
    "RULE_NAMES",
    "SELECTION_METHODS",
    "STANDARD_ERROR_CONVENTION",
    "SWING_WINDOW_AFTER_STEP",
    "WORST_KEYS",
    "Choice",
    "DomainAccuracy",
    "ReferenceValidation",
    "ResultsJsonlCallback",
    "RuleCheck",
    "RunKey",
    "RunWindow",
    "Selected",
    "SelectionRule",
    "SweepResults",
    "SwingTable",
    "Table",
    "WorstGroupTable",
    "build_swing_tables",
    "build_tables",
    "build_worst_group_tables",
    "check_rules",
    "choose_step",
    "environments_of",
    "expected_group_names",
    "group_runs",
    "is_split_based",
    "last_step",
    "load_group_accuracy",
    "load_sweep",
    "plot_tables",
    "read_results",
    "reference_split_names",
    "rule_check_markdown",
    "run_window",
    "select_trial",
    "standard_error",
    "swing_as_csv",
    "tables_as_csv",
    "train_envs_of",
    "training_domain_validation",
    "validation_splits",
    "worst_group_as_csv",
]
