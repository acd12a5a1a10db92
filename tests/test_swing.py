"""The window that shows the swing: per-run and per-cell statistics on hand-made runs with known answers,
the 50% edge, empty windows, and seedcat-collect printing and writing the table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_model_selection import record

from hf_seedcat.cli import collect
from hf_seedcat.evaluation import (
    SWING_WINDOW_AFTER_STEP,
    RunKey,
    build_swing_tables,
    group_runs,
    run_window,
    swing_as_csv,
)


def _run(accuracies_by_step, trial=0, algorithm="seedcat", test_env=2, hparams=0):
    """One run's records: the test environment's in-split accuracy at each step, every out split at 0.5."""
    out_splits = {f"e{env}o": 0.5 for env in range(3)}
    return [
        record(
            step, [test_env], trial=trial, hparams=hparams, algorithm=algorithm, **out_splits, **{f"e{test_env}i": acc}
        )
        for step, acc in accuracies_by_step.items()
    ]


def _window_of(records, after_step=SWING_WINDOW_AFTER_STEP):
    ((key, run),) = group_runs(records).items()
    return run_window(key, run, after_step)


def test_the_default_window_starts_after_seedcats_first_regroup_from_a_trained_model():
    assert SWING_WINDOW_AFTER_STEP == 1000


def test_a_runs_window_holds_the_evaluations_after_the_step_and_exactly_half_is_not_above_half():
    # Steps 500 and 1000 are not after 1000; the window is 0.2, 0.5, 0.8 (file order shuffled on purpose).
    window = _window_of(_run({1300: 0.8, 500: 0.9, 1100: 0.2, 1000: 0.95, 1200: 0.5}))
    assert window.accuracies == (0.2, 0.5, 0.8)
    assert window.evaluations == 3
    assert window.mean == pytest.approx(0.5)  # (0.2 + 0.5 + 0.8) / 3
    assert (window.lowest, window.highest) == (0.2, 0.8)
    assert window.share_above == pytest.approx(1 / 3)  # only 0.8; 0.5 is not above 50%
    assert (window.last_step, window.last_accuracy) == (1300, 0.8)
    assert window.name == "seedcat test env 2 trial 0"


def test_a_window_of_evaluations_at_exactly_half_has_none_above_half():
    window = _window_of(_run({1100: 0.5, 1200: 0.5}))
    assert window.share_above == 0.0 and window.mean == 0.5


def test_the_window_is_a_parameter():
    run = _run({100: 0.1, 200: 0.3, 300: 0.6, 400: 0.9})
    assert _window_of(run, after_step=200).accuracies == (0.6, 0.9)
    assert _window_of(run, after_step=0).accuracies == (0.1, 0.3, 0.6, 0.9)
    assert _window_of(run).accuracies == ()  # the default 1000 is after every evaluation of this run


def test_a_run_with_no_evaluation_in_the_window_has_no_window_numbers():
    window = _window_of(_run({500: 0.4, 1000: 0.6}))
    assert window.evaluations == 0
    assert (window.mean, window.lowest, window.highest, window.share_above) == (None, None, None, None)
    assert (window.last_step, window.last_accuracy) == (1000, 0.6)


def test_run_window_refuses_a_run_with_two_test_environments():
    with pytest.raises(ValueError, match="one test environment"):
        run_window(RunKey("Toy", "erm", (0, 2), 0, 0), [record(1100, [0, 2], e0i=0.5, e2i=0.5)])


def _three_trials():
    """Window means 0.3, 0.6, 0.9; last accuracies 0.4, 0.6, 0.9; evaluations 0.2, 0.4 | 0.6, 0.6 | 0.9."""
    return (
        _run({1000: 0.99, 1100: 0.2, 1200: 0.4}, trial=0)
        + _run({900: 0.1, 1500: 0.6, 1600: 0.6}, trial=1)
        + _run({1001: 0.9}, trial=2)
    )


def test_a_cell_summarises_its_trials_windows_with_the_sample_standard_error():
    (table,) = build_swing_tables(_three_trials())
    assert table.test_envs == [0, 1, 2] and list(table.cells) == ["seedcat"]
    cell = table.cells["seedcat"][2]
    assert cell.trials == 3 and cell.evaluations == 5
    # Window: mean of 0.3, 0.6, 0.9 = 60%; sample SD (ddof = 1) = 0.3, SE = 0.3 / sqrt(3) = 17.32%.
    window_mean, window_error = cell.window
    assert window_mean == pytest.approx(60.0) and window_error == pytest.approx(17.3205, abs=1e-4)
    # Last step: 0.4, 0.6, 0.9, mean 63.33%; squared deviations sum to 0.126667, / 2, sqrt, / sqrt(3) = 14.53%.
    last_mean, last_error = cell.last
    assert last_mean == pytest.approx(63.3333, abs=1e-4) and last_error == pytest.approx(14.5297, abs=1e-4)
    assert (cell.lowest, cell.highest) == (0.2, 0.9)
    assert cell.share_above == pytest.approx(3 / 5)  # pooled: 0.6, 0.6, 0.9 of five; per-trial mean would be 2/3
    assert table.cells["seedcat"][0].runs == []  # env0 was never a test environment
    markdown = table.markdown()
    assert "evaluations at steps > 1000" in markdown.splitlines()[0]
    assert "ddof = 1" in markdown.splitlines()[0]
    assert "| env2 | seedcat | 63.3 ± 14.5 | 60.0 ± 17.3 | 20.0 | 90.0 | 0.60 | 3 |" in markdown
    assert "| env0 | seedcat | — | — | — | — | — | 0 |" in markdown
    per_trial = table.per_trial_markdown()
    assert "| env2 | seedcat | 0 | 40.0 | 30.0 | 20.0 | 40.0 | 0.00 | 2 |" in per_trial
    assert "| env2 | seedcat | 2 | 90.0 | 90.0 | 90.0 | 90.0 | 1.00 | 1 |" in per_trial


def test_an_empty_window_shows_a_dash_is_named_and_the_cell_uses_the_other_trials():
    records = _run({1100: 0.2, 1200: 0.4}, trial=0) + _run({800: 0.7, 1000: 0.8}, trial=1)
    (table,) = build_swing_tables(records)
    cell = table.cells["seedcat"][2]
    assert cell.window == (pytest.approx(30.0), None)  # trial 0 alone: no standard error from one value
    assert cell.last[0] == pytest.approx(60.0)  # the last step still counts both trials: (0.4 + 0.8) / 2
    markdown = table.markdown()
    assert "| env2 | seedcat | 60.0 ± 20.0 | 30.0 (n=1) | 20.0 | 40.0 | 0.00 | 2 |" in markdown
    assert "No evaluations at steps > 1000 in: seedcat test env 2 trial 1 (last evaluation at step 1000)" in markdown
    assert "| env2 | seedcat | 1 | 80.0 | — | — | — | — | 0 |" in table.per_trial_markdown()

    (nothing,) = build_swing_tables(_run({1000: 0.8}))
    assert "| env2 | seedcat | 80.0 | — | — | — | — | 1 |" in nothing.markdown()


def test_only_single_test_environment_runs_of_the_default_hyperparameters_enter_and_the_rest_is_counted():
    records = _run({1100: 0.2}) + _run({1100: 0.9}, hparams=1) + [record(1100, [0, 2], e0i=0.9, e2i=0.9, e1o=0.5)]
    (table,) = build_swing_tables(records)
    assert list(table.cells) == ["seedcat"] and table.cells["seedcat"][2].window[0] == pytest.approx(20.0)
    assert table.other_hparams_runs == 1
    assert "1 runs of other hyperparameter samples are not in this table." in table.markdown()


def test_rows_follow_the_requested_algorithms_and_the_csv_holds_cells_and_trials_unrounded():
    records = _three_trials() + _run({1100: 0.1, 1200: 0.2}, algorithm="erm")
    (table,) = build_swing_tables(records, algorithms=["seedcat", "erm", "groupdro"], after_step=1000)
    assert list(table.cells) == ["seedcat", "erm"]
    rows = list(csv.DictReader(swing_as_csv([table]).splitlines()))
    cell = next(row for row in rows if (row["algorithm"], row["test_env"], row["trial"]) == ("seedcat", "2", "all"))
    assert cell["window_mean"] == "60.0000" and cell["window_stderr"] == "17.3205"
    assert (cell["window_min"], cell["window_max"], cell["share_above_50"]) == ("20.0000", "90.0000", "0.6000")
    assert (cell["evaluations"], cell["trials"], cell["window_after_step"]) == ("5", "3", "1000")
    trial1 = next(row for row in rows if (row["algorithm"], row["test_env"], row["trial"]) == ("seedcat", "2", "1"))
    assert (trial1["last_acc"], trial1["window_mean"], trial1["evaluations"]) == ("60.0000", "60.0000", "2")
    assert trial1["last_stderr"] == "" and trial1["window_stderr"] == ""


def _write_run(folder: Path, lines):
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "done").touch()


def test_collect_prints_and_writes_the_window_table_with_the_standard_error_named(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    _write_run(sweep / "seedcat_trial0", _run({100: 0.7, 200: 0.2, 300: 0.4}, trial=0))
    _write_run(sweep / "seedcat_trial1", _run({100: 0.7, 200: 0.6, 300: 0.8}, trial=1))
    _write_run(sweep / "erm_trial0", _run({100: 0.1, 200: 0.1, 300: 0.3}, algorithm="erm"))
    out = tmp_path / "tables"
    argv = ["--input_dir", str(sweep), "--output_dir", str(out), "--window_after_step", "100"]
    assert collect.main([*argv, "--algorithms", "seedcat", "erm"]) == 0
    printed = capsys.readouterr().out
    heading = "### Toy: test accuracy over the window (evaluations at steps > 100), mean ± standard error over trials"
    assert heading in printed
    # seedcat: windows (0.2, 0.4) and (0.6, 0.8), means 0.3 and 0.7: 50.0 ± 20.0; last 0.4 and 0.8: 60.0 ± 20.0;
    # pooled above 50%: 0.6 and 0.8 of four evaluations.
    assert "| env2 | seedcat | 60.0 ± 20.0 | 50.0 ± 20.0 | 20.0 | 80.0 | 0.50 | 2 |" in printed
    assert "| env2 | erm | 30.0 | 20.0 | 10.0 | 30.0 | 0.00 | 1 |" in printed
    assert printed.index("Test-domain validation (oracle)") < printed.index(heading)
    results = (out / "results.md").read_text()
    assert results.startswith(
        "Test accuracy (%), mean ± standard error over trials (n = trials): sample SD with ddof = 1, over "
        "sqrt(n); DomainBed's tables use ddof = 0."
    )
    assert "| env2 | seedcat | 1 | 80.0 | 70.0 | 60.0 | 80.0 | 1.00 | 2 |" in results
    assert (out / "results.csv").read_text().splitlines()[0] == (
        "dataset,selection,algorithm,test_env,environment,mean,stderr,trials"
    )
    assert "Toy,100,seedcat,2,env2,all,60.0000,20.0000,50.0000,20.0000,20.0000,80.0000,0.5000,4,2" in (
        (out / "swing.csv").read_text()
    )


def test_collect_refuses_a_negative_window(tmp_path, capsys):
    assert collect.main(["--input_dir", str(tmp_path), "--window_after_step", "-1"]) == 2
    assert "--window_after_step must be 0 or more" in capsys.readouterr().err
