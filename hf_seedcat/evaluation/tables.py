"""Result tables of a sweep: per dataset of domains and selection method, algorithms x test environments.

Cells are mean +/- standard error over trials of the selected test accuracy, in percent. Runs that
are unfinished (no ``done`` file) or unreadable are counted and listed, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .model_selection import (
    DEFAULT_REFERENCE_STEP,
    REFERENCE_KEYS,
    SELECTION_METHODS,
    Record,
    Runs,
    environments_of,
    group_runs,
    is_split_based,
    select_trial,
)
from .results import RESULTS_FILE

DONE_FILE = "done"  # written by run_experiment when a run has trained, saved and evaluated to the end


@dataclass
class SweepResults:
    """Every finished run's records, and the folders that could not be used, with the reason."""

    records: list[Record] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)
    code_versions: dict[str, list[str]] = field(default_factory=dict)  # version -> finished run folders

    @property
    def mixed_versions(self) -> bool:
        """Whether the finished runs come from more than one code version (their means would pool them)."""
        return len(self.code_versions) > 1

    def report(self) -> str:
        lines = [f"{len(self.finished)} finished runs, {len(self.unfinished)} unfinished, {len(self.broken)} broken."]
        versions = ", ".join(f"{version} ({len(folders)} runs)" for version, folders in self.code_versions.items())
        if versions:
            lines.append(f"Code version{'s (MIXED: means pool them)' if self.mixed_versions else ''}: {versions}.")
        lines += [f"  unfinished (no '{DONE_FILE}' file, left out): {path}" for path in self.unfinished]
        lines += [f"  broken (left out): {path}: {reason}" for path, reason in self.broken]
        return "\n".join(lines)


def load_sweep(input_dir: str) -> SweepResults:
    """Read every ``results.jsonl`` under ``input_dir``; only runs with a ``done`` file enter the tables."""
    if not os.path.isdir(input_dir):
        raise FileNotFoundError(f"No results folder at {input_dir}.")
    results = SweepResults()
    for folder, _, files in sorted(os.walk(input_dir)):
        if RESULTS_FILE not in files:
            continue
        try:
            records = _read_records(os.path.join(folder, RESULTS_FILE))
        except ValueError as error:
            results.broken.append((folder, str(error)))
            continue
        if DONE_FILE not in files:
            results.unfinished.append(folder)
            continue
        results.finished.append(folder)
        results.records.extend(records)
        results.code_versions.setdefault(run_code_version(records), []).append(folder)
    return results


def run_code_version(records: Sequence[Record]) -> str:
    """The code version a run's lines record (``provenance.code_version``); a run resumed under other
    code names each, joined by '+'; lines written before versions were recorded say 'unrecorded'."""
    versions = dict.fromkeys(record.get("code_version", "unrecorded") for record in records)
    return "+".join(versions)


def _read_records(path: str) -> list[Record]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"line {number} is not JSON ({error.msg})") from None
            missing = [key for key in ("args", "step") if key not in record]
            if missing:
                raise ValueError(f"line {number} lacks {', '.join(missing)}")
            records.append(record)
    if not records:
        raise ValueError("no records")
    return records


STANDARD_ERROR_CONVENTION = "sample SD with ddof = 1, over sqrt(n); DomainBed's tables use ddof = 0"


def standard_error(values: Sequence[float]) -> float | None:
    """Sample standard deviation over sqrt(n); None for fewer than two values.

    DomainBed divides by n rather than n - 1 inside the deviation, which makes its errors smaller by
    sqrt((n - 1) / n) (0.82 for 3 trials); we use the unbiased form. ``STANDARD_ERROR_CONVENTION`` says so
    in words, for every table that prints a ±.
    """
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(sum((value - mean) ** 2 for value in values) / (n - 1)) / math.sqrt(n)


@dataclass
class Cell:
    """The selected test accuracies (in [0, 1]) of every trial of one algorithm on one test environment."""

    accuracies: list[float]

    @property
    def mean(self) -> float | None:
        return 100 * sum(self.accuracies) / len(self.accuracies) if self.accuracies else None

    @property
    def error(self) -> float | None:
        error = standard_error(self.accuracies)
        return None if error is None else 100 * error

    def text(self) -> str:
        if self.mean is None:
            return "—"
        error = "" if self.error is None else f" ± {self.error:.1f}"
        return f"{self.mean:.1f}{error} (n={len(self.accuracies)})"


@dataclass
class Table:
    dataset: str
    method: str
    test_envs: list[int]
    environment_names: list[str]
    cells: dict[str, list[Cell]]  # algorithm -> one cell per test environment

    @property
    def title(self) -> str:
        return f"{self.dataset}: {SELECTION_METHODS[self.method][0]}"

    def header(self) -> list[str]:
        return ["Algorithm", *(self.environment_names[env] for env in self.test_envs), "Avg"]

    def average(self, algorithm: str) -> float | None:
        """Mean over test environments of the per-environment means, only when every one is there."""
        means = [cell.mean for cell in self.cells[algorithm]]
        return None if not means or any(mean is None for mean in means) else sum(means) / len(means)

    def rows(self) -> list[list[str]]:
        rows = []
        for algorithm, cells in self.cells.items():
            average = self.average(algorithm)
            rows.append([algorithm, *(cell.text() for cell in cells), "—" if average is None else f"{average:.1f}"])
        return rows

    def markdown(self) -> str:
        header = self.header()
        lines = [f"### {self.title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows()]
        empty = all(cell.mean is None for cells in self.cells.values() for cell in cells)
        if empty and self.method in EMPTY_TABLE_REASONS:
            lines += ["", EMPTY_TABLE_REASONS[self.method]]
        return "\n".join(lines)

    def csv_rows(self) -> list[list[str]]:
        """Long form, one line per algorithm and test environment, numbers unrounded."""
        lines = []
        for algorithm, cells in self.cells.items():
            for env, cell in zip(self.test_envs, cells, strict=True):
                lines.append(
                    [self.dataset, self.method, algorithm, str(env), self.environment_names[env]]
                    + ["" if value is None else f"{value:.4f}" for value in (cell.mean, cell.error)]
                    + [str(len(cell.accuracies))]
                )
        return lines

    def latex(self) -> str:
        header = [_latex_escape(text) for text in self.header()]
        lines = [
            "% " + self.title,
            "\\begin{tabular}{l" + "c" * (len(header) - 1) + "}",
            "\\toprule",
            " & ".join(header) + " \\\\",
            "\\midrule",
        ]
        for row in self.rows():
            cells = [_latex_escape(row[0])] + [_latex_cell(text) for text in row[1:]]
            lines.append(" & ".join(cells) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
        return "\n".join(lines)


EMPTY_TABLE_REASONS = {
    "leave_one_out": "No leave-one-out selection: it needs the runs with two test environments (`--leave_one_out`).",
    **{
        method: f"No label-free selection: no results.jsonl holds `{key}`. It is logged from the reference step "
        f"(`--reference_step`, {DEFAULT_REFERENCE_STEP} by default) on, so runs that ended before it, or were made "
        "before the rule existed, have none."
        for method, key in zip(("reference_quantile", "reference_errors"), REFERENCE_KEYS, strict=True)
    },
    "val_worst_group": "No selection by validation worst-group accuracy: the runs log no "
    "`<split>_worst_group_acc` on their validation splits (they have no attribute columns).",
    "val_worst_class": "No selection by validation worst-class accuracy: these runs were made before "
    "`<split>_worst_class_acc` was logged.",
}
"""Why a table of a selection method is empty, said under it."""

CSV_HEADER = ["dataset", "selection", "algorithm", "test_env", "environment", "mean", "stderr", "trials"]


def _latex_escape(text: str) -> str:
    return text.replace("\\", "\\textbackslash{}").replace("%", "\\%").replace("_", "\\_").replace("&", "\\&")


def _latex_cell(text: str) -> str:
    return _latex_escape(text.split(" (n=")[0]).replace("±", "$\\pm$").replace("—", "--")


def build_tables(records: Sequence[Record], algorithms: Sequence[str] | None = None) -> list[Table]:
    """One table per dataset and selection method, from finished runs' records; split-based datasets have no
    environments to be columns and are left to ``worst_group.build_worst_group_tables``."""
    runs = group_runs(record for record in records if not is_split_based(record))
    tables = []
    for dataset in sorted({key.dataset for key in runs}):
        keys = [key for key in runs if key.dataset == dataset]
        dataset_records = [record for key in keys for record in runs[key]]
        n_envs = 1 + max(env for record in dataset_records for env in environments_of(record))
        names = environment_names(dataset_records, n_envs)
        test_envs = list(range(n_envs))  # every environment, so a missing one shows as missing
        present = sorted({key.algorithm for key in keys})
        rows = [a for a in algorithms if a in present] if algorithms else present
        for method in SELECTION_METHODS:
            cells = {
                algorithm: [_cell(runs, method, dataset, algorithm, env) for env in test_envs] for algorithm in rows
            }
            tables.append(Table(dataset, method, test_envs, names, cells))
    return tables


def _cell(runs: Runs, method: str, dataset: str, algorithm: str, test_env: int) -> Cell:
    wanted = (dataset, algorithm, (test_env,))
    trials = sorted({key.trial_seed for key in runs if (key.dataset, key.algorithm, key.test_envs) == wanted})
    selected = [select_trial(runs, method, dataset, algorithm, test_env, trial) for trial in trials]
    return Cell([choice.test_acc for choice in selected if choice is not None])


def environment_names(records: Sequence[Record], n_envs: int) -> list[str]:
    """Column names ``env{i} (<name>)`` from the environment names the runs recorded, else ``env{i}``."""
    for record in records:
        names = record["args"].get("environments")
        if names and len(names) == n_envs:
            return [f"env{i} ({name})" for i, name in enumerate(names)]
    return [f"env{i}" for i in range(n_envs)]


def csv_text(header: Sequence[str], tables: Sequence[Any]) -> str:
    """One CSV document: the header, then every table's ``csv_rows()`` (the long form of each table kind)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for table in tables:
        writer.writerows(table.csv_rows())
    return buffer.getvalue()


def tables_as_csv(tables: Sequence[Table]) -> str:
    return csv_text(CSV_HEADER, tables)


def plot_tables(tables: Sequence[Table], path: str) -> None:
    """One PNG per dataset: a panel per selection method that selected anything (an empty table's reason is in
    the Markdown), grouped bars per test environment, SE bars."""
    tables = [table for table in tables if any(cell.mean is not None for c in table.cells.values() for cell in c)]
    if not tables:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(4.5 * len(tables), 3.6), squeeze=False, sharey=True)
    for ax, table in zip(axes[0], tables, strict=True):
        algorithms = list(table.cells)
        width = 0.8 / max(len(algorithms), 1)
        for i, algorithm in enumerate(algorithms):
            cells = table.cells[algorithm]
            xs = [j + (i - (len(algorithms) - 1) / 2) * width for j in range(len(cells))]
            means = [math.nan if cell.mean is None else cell.mean for cell in cells]  # missing: no bar
            errors = [math.nan if cell.error is None else cell.error for cell in cells]
            ax.bar(xs, means, width, yerr=errors, capsize=3, label=algorithm)
        ax.set_xticks(range(len(table.test_envs)), [table.environment_names[env] for env in table.test_envs])
        ax.set_title(SELECTION_METHODS[table.method][0], fontsize=9)
        ax.set_ylim(0, 100)
        ax.set_xlim(-0.5, len(table.test_envs) - 0.5)
    axes[0][0].set_ylabel("test accuracy (%), mean ± SE (ddof = 1)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(tables[0].dataset)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
