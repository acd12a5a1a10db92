"""The swing: test accuracy over a window of evaluations, not only at the step a selection rule picks.

Seedcat recomputes its seed categories every t0 steps, and its test accuracy can move 20 points or more
from one regroup to the next. A table of the last step (oracle selection) or of one selected step reports
whichever phase that step fell in, so it can rank the methods by luck of timing. This module summarises
every evaluation after a fixed step, the same window for every algorithm: per run the mean, min and max of
the test environment's in-split accuracy (DomainBed's test accuracy) and the share of evaluations above
50%; per algorithm and test environment the same over trials, beside the last-step accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .model_selection import Record, RunKey, Runs, environments_of, group_runs, is_split_based
from .tables import STANDARD_ERROR_CONVENTION, csv_text, environment_names, standard_error

SWING_WINDOW_AFTER_STEP = 1000
"""The window is the evaluations at steps > this. DomainBed's ColoredMNIST runs last 5000 steps, and
seedcat's first regroup from a trained model comes at t0 = 1000 (the one at step 0 ranks samples by a random
model's losses): the first 1000 steps are warm-up for every arm, and what follows is where the regroups act.
Shorter runs pass their own (for 1000-step CPU runs, 200)."""

SHARE_ABOVE_ACCURACY = 0.5
"""The share column counts evaluations strictly above this accuracy (exactly 50% does not count): on a
binary task like ColoredMNIST, above chance; on its -90% environment, a model not following the colour."""

WINDOW_HPARAMS_SEED = 0
"""The window reads hyperparameter sample 0 (the defaults) of each trial: it describes one setting's
training, the same for every arm; choosing among samples is the selection tables' job."""

SWING_CSV_HEADER = [
    "dataset",
    "window_after_step",
    "algorithm",
    "test_env",
    "environment",
    "trial",
    "last_acc",
    "last_stderr",
    "window_mean",
    "window_stderr",
    "window_min",
    "window_max",
    "share_above_50",
    "evaluations",
    "trials",
]


@dataclass(frozen=True)
class RunWindow:
    """One run's test accuracies (in [0, 1]): at its last evaluation, and at each evaluation in the window."""

    key: RunKey
    last_step: int
    last_accuracy: float
    accuracies: tuple[float, ...]  # in step order; empty when the run has no evaluation in the window

    @property
    def evaluations(self) -> int:
        return len(self.accuracies)

    @property
    def mean(self) -> float | None:
        return sum(self.accuracies) / len(self.accuracies) if self.accuracies else None

    @property
    def lowest(self) -> float | None:
        return min(self.accuracies, default=None)

    @property
    def highest(self) -> float | None:
        return max(self.accuracies, default=None)

    @property
    def share_above(self) -> float | None:
        """The share of the window's evaluations strictly above ``SHARE_ABOVE_ACCURACY``."""
        if not self.accuracies:
            return None
        return sum(accuracy > SHARE_ABOVE_ACCURACY for accuracy in self.accuracies) / len(self.accuracies)

    @property
    def name(self) -> str:
        return f"{self.key.algorithm} test env {self.key.test_envs[0]} trial {self.key.trial_seed}"


def run_window(key: RunKey, run: Sequence[Record], after_step: int = SWING_WINDOW_AFTER_STEP) -> RunWindow:
    """One single-test-environment run's window: its records' test accuracy at steps > ``after_step``."""
    if len(key.test_envs) != 1:
        raise ValueError(f"The window reads runs with one test environment; {key} has {len(key.test_envs)}.")
    if not run:
        raise ValueError(f"No results records for {key}.")
    (test_env,) = key.test_envs
    ordered = sorted(run, key=lambda record: record["step"])
    accuracies = tuple(record[f"env{test_env}_in_acc"] for record in ordered if record["step"] > after_step)
    return RunWindow(key, ordered[-1]["step"], ordered[-1][f"env{test_env}_in_acc"], accuracies)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _mean_and_error(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and standard error (``tables.standard_error``) of accuracies, both in percent."""
    if not values:
        return None, None
    error = standard_error(values)
    return 100 * sum(values) / len(values), None if error is None else 100 * error


def _mean_text(mean: float | None, error: float | None, n: int, trials: int) -> str:
    if mean is None:
        return "—"
    text = f"{mean:.1f}" + ("" if error is None else f" ± {error:.1f}")
    return text if n == trials else f"{text} (n={n})"


@dataclass
class SwingCell:
    """One algorithm on one test environment: each trial's run, summarised over the same window."""

    runs: list[RunWindow]

    @property
    def trials(self) -> int:
        return len(self.runs)

    @property
    def windowed(self) -> list[RunWindow]:
        """The runs with at least one evaluation in the window (the window columns are over these)."""
        return [run for run in self.runs if run.evaluations]

    @property
    def last(self) -> tuple[float | None, float | None]:
        """Mean and standard error over trials of the last-step test accuracy, in percent."""
        return _mean_and_error([run.last_accuracy for run in self.runs])

    @property
    def window(self) -> tuple[float | None, float | None]:
        """Mean and standard error over trials of each run's window mean, in percent."""
        return _mean_and_error([run.mean for run in self.windowed if run.mean is not None])

    @property
    def lowest(self) -> float | None:
        return min((accuracy for run in self.runs for accuracy in run.accuracies), default=None)

    @property
    def highest(self) -> float | None:
        return max((accuracy for run in self.runs for accuracy in run.accuracies), default=None)

    @property
    def evaluations(self) -> int:
        return sum(run.evaluations for run in self.runs)

    @property
    def share_above(self) -> float | None:
        """Pooled over every trial's window: evaluations above 50% over all evaluations in the window."""
        above = sum(accuracy > SHARE_ABOVE_ACCURACY for run in self.runs for accuracy in run.accuracies)
        return above / self.evaluations if self.evaluations else None

    def texts(self) -> list[str]:
        """Last step, window mean, min, max, share above 50%, trials."""
        if not self.runs:
            return ["—"] * 5 + ["0"]
        share = self.share_above
        return [
            _mean_text(*self.last, self.trials, self.trials),
            _mean_text(*self.window, len(self.windowed), self.trials),
            _percent(self.lowest),
            _percent(self.highest),
            "—" if share is None else f"{share:.2f}",
            str(self.trials),
        ]


@dataclass
class SwingTable:
    """One dataset's window: algorithms x test environments, and the trials behind each cell."""

    dataset: str
    after_step: int
    test_envs: list[int]
    environment_names: list[str]
    cells: dict[str, list[SwingCell]]  # algorithm -> one cell per test environment
    other_hparams_runs: int = 0  # runs of hyperparameter samples other than WINDOW_HPARAMS_SEED, left out

    @property
    def window(self) -> str:
        return f"evaluations at steps > {self.after_step}"

    @property
    def title(self) -> str:
        return (
            f"{self.dataset}: test accuracy over the window ({self.window}), "
            f"mean ± standard error over trials ({STANDARD_ERROR_CONVENTION})"
        )

    def _cells_by_environment(self) -> list[tuple[int, str, SwingCell]]:
        return [
            (env, algorithm, cells[i])
            for i, env in enumerate(self.test_envs)
            for algorithm, cells in self.cells.items()
        ]

    def empty_windows(self) -> list[RunWindow]:
        """The runs with no evaluation in the window: shown as "—", and named under the table."""
        return [run for _, _, cell in self._cells_by_environment() for run in cell.runs if not run.evaluations]

    def notes(self) -> list[str]:
        notes = [
            f"Test accuracy (%): the test environment's in split. Last step: each run's last evaluation. "
            f"Window mean: the mean over trials of each run's mean over the {self.window}; min and max: over "
            f"every trial's window; > 50%: the share of all trials' evaluations in the window above 50% "
            f"(pooled). Hyperparameter sample {WINDOW_HPARAMS_SEED} (the defaults) of each trial."
        ]
        empty = self.empty_windows()
        if empty:
            runs = "; ".join(f"{run.name} (last evaluation at step {run.last_step})" for run in empty)
            notes.append(
                f"No {self.window} in: {runs}. Their window cells are '—'; window means are over the other trials."
            )
        if self.other_hparams_runs:
            notes.append(f"{self.other_hparams_runs} runs of other hyperparameter samples are not in this table.")
        return notes

    def markdown(self) -> str:
        header = ["Test env", "Algorithm", "Last step", "Window mean", "Window min", "Window max", "> 50%", "Trials"]
        lines = [f"### {self.title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for env, algorithm, cell in self._cells_by_environment():
            lines.append("| " + " | ".join([self.environment_names[env], algorithm, *cell.texts()]) + " |")
        if not self.cells:
            lines += ["", "No runs with one test environment (the window reads only those)."]
        return "\n".join(lines + [""] + self.notes())

    def per_trial_markdown(self) -> str:
        """One row per run: the numbers each cell of ``markdown`` is made of."""
        header = ["Test env", "Algorithm", "Trial", "Last step", "Window mean", "Min", "Max", "> 50%", "Evaluations"]
        lines = [
            f"#### {self.dataset}, per trial: test accuracy over the {self.window}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + " --- |" * len(header),
        ]
        for env, algorithm, cell in self._cells_by_environment():
            for run in cell.runs:
                share = "—" if run.share_above is None else f"{run.share_above:.2f}"
                row = [self.environment_names[env], algorithm, str(run.key.trial_seed)]
                row += [_percent(value) for value in (run.last_accuracy, run.mean, run.lowest, run.highest)]
                lines.append("| " + " | ".join([*row, share, str(run.evaluations)]) + " |")
        return "\n".join(lines)

    def csv_rows(self) -> list[list[str]]:
        """Long form, numbers unrounded in percent: per cell one row with trial 'all', then one per trial."""

        def number(value: float | None, scale: float = 100) -> str:
            return "" if value is None else f"{scale * value:.4f}"

        rows = []
        for env, algorithm, cell in self._cells_by_environment():
            where = [self.dataset, str(self.after_step), algorithm, str(env), self.environment_names[env]]
            (last, last_error), (window, window_error) = cell.last, cell.window
            rows.append(
                [*where, "all"]
                + [number(value, 1) for value in (last, last_error, window, window_error)]
                + [number(cell.lowest), number(cell.highest), number(cell.share_above, 1)]
                + [str(cell.evaluations), str(cell.trials)]
            )
            for run in cell.runs:
                rows.append(
                    [*where, str(run.key.trial_seed), number(run.last_accuracy), "", number(run.mean), ""]
                    + [number(run.lowest), number(run.highest), number(run.share_above, 1)]
                    + [str(run.evaluations), "1"]
                )
        return rows


def build_swing_tables(
    records: Sequence[Record], algorithms: Sequence[str] | None = None, after_step: int = SWING_WINDOW_AFTER_STEP
) -> list[SwingTable]:
    """One window table per dataset, from finished runs' records; only runs with one test environment (so
    none of a split-based dataset)."""
    runs = group_runs(record for record in records if not is_split_based(record))
    tables = []
    for dataset in sorted({key.dataset for key in runs}):
        keys = [key for key in runs if key.dataset == dataset]
        dataset_records = [record for key in keys for record in runs[key]]
        n_envs = 1 + max(env for record in dataset_records for env in environments_of(record))
        single = [key for key in keys if len(key.test_envs) == 1]
        chosen = [key for key in single if key.hparams_seed == WINDOW_HPARAMS_SEED]
        present = sorted({key.algorithm for key in chosen})
        rows = [algorithm for algorithm in algorithms if algorithm in present] if algorithms else present
        test_envs = list(range(n_envs))  # every environment, so a missing one shows as missing
        cells = {
            algorithm: [_cell(runs, chosen, algorithm, env, after_step) for env in test_envs] for algorithm in rows
        }
        names = environment_names(dataset_records, n_envs)
        tables.append(SwingTable(dataset, after_step, test_envs, names, cells, len(single) - len(chosen)))
    return tables


def _cell(runs: Runs, keys: Sequence[RunKey], algorithm: str, test_env: int, after_step: int) -> SwingCell:
    mine = sorted(
        (key for key in keys if (key.algorithm, key.test_envs) == (algorithm, (test_env,))),
        key=lambda key: key.trial_seed,
    )
    return SwingCell([run_window(key, runs[key], after_step) for key in mine])


def swing_as_csv(tables: Sequence[SwingTable]) -> str:
    return csv_text(SWING_CSV_HEADER, tables)
