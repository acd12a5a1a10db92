"""The worst-group table of a sweep: every selection rule's pick, read as group-robustness papers read it.

DomainBed's tables give the selected step's test accuracy; a worst-group benchmark (SubpopBench, GroupDRO, JTT)
gives that step's worst-group test accuracy beside its average, because a model can gain on average by giving
up on its smallest group. Per dataset, one row per selection rule and algorithm, mean ± standard error over
trials (``tables.STANDARD_ERROR_CONVENTION``) of the selected step's

- for a dataset of domains, per test environment: ``env{t}_in_worst_group_acc`` (the worst label x attribute
  group inside that domain's in split) and ``env{t}_in_acc``;
- for a split-based dataset (``args["split_based"]``): ``test_worst_group_acc`` and ``test_acc``, in a table of
  its own with no environments.

Runs without attribute columns log no worst-group accuracy: their worst-group cells are "—". A trial whose
selected step had a group with no test sample (``<split>_groups_empty``) is counted and marked, since its worst
group is over the other groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .model_selection import (
    SELECTION_METHODS,
    Record,
    Runs,
    environments_of,
    group_runs,
    is_split_based,
    select_trial,
)
from .tables import EMPTY_TABLE_REASONS, STANDARD_ERROR_CONVENTION, Cell, csv_text, environment_names

WORST_GROUP_CSV_HEADER = [
    "dataset",
    "selection",
    "algorithm",
    "test_env",
    "environment",
    "metric",
    "mean",
    "stderr",
    "trials",
    "empty_group_trials",
]

EMPTY_GROUP_MARK = "†"

SPLIT_BASED_REASONS = {
    "leave_one_out": "No leave-one-domain-out selection: a split-based dataset has no domains to hold out.",
    "oracle": "No test-domain (oracle) selection: a split-based dataset has no test domain with a validation "
    "split of its own, and selection never reads the test split.",
    "reference_quantile": "No label-free selection: these runs' results.jsonl holds no `ref_quantile_acc`.",
    "reference_errors": "No label-free selection: these runs' results.jsonl holds no `ref_error_acc`.",
}
"""Why a rule selects nothing in a split-based dataset, said under its table."""


@dataclass
class WorstGroupCell:
    """One rule, algorithm and test environment: the selected steps' worst-group and average test accuracies
    (in [0, 1], one per trial that selected anything), and how many of those steps had an empty test group."""

    worst_group: Cell
    average: Cell
    empty_group_trials: int = 0

    def texts(self) -> list[str]:
        mark = f" {EMPTY_GROUP_MARK}" if self.empty_group_trials else ""
        return [self.worst_group.text() + mark, self.average.text()]


@dataclass
class WorstGroupTable:
    """One dataset's (or its split-based runs') table: (rule, algorithm) rows x test environments."""

    dataset: str
    split_based: bool
    test_envs: list[int | None]  # [None]: the split-based runs' test split
    column_names: list[str]
    cells: dict[tuple[str, str], list[WorstGroupCell]]  # (selection method, algorithm) -> one per test env
    has_groups: bool  # whether any run logged a worst-group accuracy

    @property
    def title(self) -> str:
        kind = "split-based: validation / test splits" if self.split_based else "per test environment"
        return (
            f"{self.dataset}: worst-group and average test accuracy of each rule's selected step ({kind}), "
            f"mean ± standard error over trials ({STANDARD_ERROR_CONVENTION})"
        )

    def header(self) -> list[str]:
        columns = [f"{name} {metric}" for name in self.column_names for metric in ("worst group", "average")]
        return ["Selection", "Algorithm", *columns]

    def notes(self) -> list[str]:
        where = (
            "the `test` split's `test_worst_group_acc` and `test_acc`; validation is the `validation` split"
            if self.split_based
            else "the test environment's in split (`env{t}_in_worst_group_acc`, `env{t}_in_acc`); validation is "
            "the training environments' out splits"
        )
        notes = [
            f"Test accuracy (%) at the step each rule selects: {where}. Worst group: the label x attribute "
            "group with the lowest accuracy. n: trials that selected a step."
        ]
        if self.split_based:
            notes.append("Training-domain validation here is the validation split's average accuracy.")
        if not self.has_groups:
            notes.append(
                "No worst-group accuracy: these runs have no attribute columns, so the worst-group columns are '—'."
            )
        empty = sum(cell.empty_group_trials for cells in self.cells.values() for cell in cells)
        if empty:
            notes.append(
                f"{EMPTY_GROUP_MARK}: {empty} of the selected steps had a group with no test sample; their worst "
                "group is over the other groups (the empty ones are named in results.jsonl, `<split>_empty_groups`)."
            )
        reasons = SPLIT_BASED_REASONS if self.split_based else {}
        for method in SELECTION_METHODS:
            rows = [cells for (name, _), cells in self.cells.items() if name == method]
            if rows and all(cell.average.mean is None for cells in rows for cell in cells):
                reason = reasons.get(method) or EMPTY_TABLE_REASONS.get(method)
                if reason:
                    notes.append(reason)
        return notes

    def markdown(self) -> str:
        header = self.header()
        lines = [f"### {self.title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for (method, algorithm), cells in self.cells.items():
            texts = [text for cell in cells for text in cell.texts()]
            lines.append("| " + " | ".join([SELECTION_METHODS[method][0], algorithm, *texts]) + " |")
        return "\n".join(lines + [""] + self.notes())

    def csv_rows(self) -> list[list[str]]:
        """Long form, numbers in percent unrounded: one line per rule, algorithm, test environment and metric."""

        def number(value: float | None) -> str:
            return "" if value is None else f"{value:.4f}"

        rows = []
        for (method, algorithm), cells in self.cells.items():
            for env, name, cell in zip(self.test_envs, self.column_names, cells, strict=True):
                where = [self.dataset, method, algorithm, "" if env is None else str(env), name]
                for metric, values, empty in (
                    ("worst_group", cell.worst_group, str(cell.empty_group_trials)),
                    ("average", cell.average, ""),
                ):
                    numbers = [number(values.mean), number(values.error), str(len(values.accuracies))]
                    rows.append([*where, metric, *numbers, empty])
        return rows


def build_worst_group_tables(
    records: Sequence[Record], algorithms: Sequence[str] | None = None
) -> list[WorstGroupTable]:
    """One table per dataset (and a second for a dataset's split-based runs, should one have both kinds)."""
    tables = []
    for dataset in sorted({record["args"]["dataset"] for record in records}):
        mine = [record for record in records if record["args"]["dataset"] == dataset]
        for split_based in (False, True):
            kind = [record for record in mine if is_split_based(record) == split_based]
            if kind:
                tables.append(_table(dataset, split_based, kind, algorithms))
    return tables


def _table(
    dataset: str, split_based: bool, records: Sequence[Record], algorithms: Sequence[str] | None
) -> WorstGroupTable:
    runs = group_runs(records)
    if split_based:
        test_envs: list[int | None] = [None]
        names = ["test"]
    else:
        n_envs = 1 + max(env for record in records for env in environments_of(record))
        test_envs = list(range(n_envs))  # every environment, so a missing one shows as missing
        names = environment_names(records, n_envs)
    present = sorted({key.algorithm for key in runs})
    rows = [algorithm for algorithm in algorithms if algorithm in present] if algorithms else present
    cells = {
        (method, algorithm): [_cell(runs, method, dataset, algorithm, env) for env in test_envs]
        for method in SELECTION_METHODS
        for algorithm in rows
    }
    has_groups = any(key.endswith("_worst_group_acc") for record in records for key in record)
    return WorstGroupTable(dataset, split_based, test_envs, names, cells, has_groups)


def _cell(runs: Runs, method: str, dataset: str, algorithm: str, test_env: int | None) -> WorstGroupCell:
    test_envs = () if test_env is None else (test_env,)
    wanted = (dataset, algorithm, test_envs)
    trials = sorted({key.trial_seed for key in runs if (key.dataset, key.algorithm, key.test_envs) == wanted})
    chosen = [select_trial(runs, method, dataset, algorithm, test_env, trial) for trial in trials]
    selected = [choice for choice in chosen if choice is not None]
    return WorstGroupCell(
        Cell([choice.test_worst_group_acc for choice in selected if choice.test_worst_group_acc is not None]),
        Cell([choice.test_acc for choice in selected]),
        sum(choice.test_groups_empty for choice in selected),
    )


def worst_group_as_csv(tables: Sequence[WorstGroupTable]) -> str:
    return csv_text(WORST_GROUP_CSV_HEADER, tables)
