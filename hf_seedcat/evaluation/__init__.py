"""Evaluation: group accuracy (a local evaluate module), DomainBed's results.jsonl, model selection, tables."""

from .metrics import GROUP_ACCURACY, DomainAccuracy, load_group_accuracy
from .model_selection import (
    SELECTION_METHODS,
    RunKey,
    Selected,
    environments_of,
    group_runs,
    last_step,
    select_trial,
    train_envs_of,
    training_domain_validation,
)
from .results import RESULTS_FILE, ResultsJsonlCallback, read_results
from .tables import (
    DONE_FILE,
    SweepResults,
    Table,
    build_tables,
    load_sweep,
    plot_tables,
    standard_error,
    tables_as_csv,
)

__all__ = [
    "DONE_FILE",
    "GROUP_ACCURACY",
    "RESULTS_FILE",
    "SELECTION_METHODS",
    "DomainAccuracy",
    "ResultsJsonlCallback",
    "RunKey",
    "Selected",
    "SweepResults",
    "Table",
    "build_tables",
    "environments_of",
    "group_runs",
    "last_step",
    "load_group_accuracy",
    "load_sweep",
    "plot_tables",
    "read_results",
    "select_trial",
    "standard_error",
    "tables_as_csv",
    "train_envs_of",
    "training_domain_validation",
]
