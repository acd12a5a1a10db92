"""Sweep tables: standard errors, averages, unfinished and broken runs, the four output formats."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from test_model_selection import record

from hf_seedcat.evaluation import build_tables, load_sweep, standard_error, tables_as_csv

ROOT = Path(__file__).resolve().parents[1]


def test_standard_error_is_the_sample_deviation_over_root_n():
    assert standard_error([0.1, 0.2, 0.3]) == pytest.approx(0.1 / math.sqrt(3))
    assert standard_error([0.5, 0.5]) == 0.0
    assert standard_error([0.4]) is None and standard_error([]) is None


def _runs():
    lines = []
    for trial, accs in enumerate([(0.1, 0.5), (0.2, 0.6), (0.3, 0.7)]):  # (test acc env2, test acc env0)
        lines.append(record(100, [2], trial=trial, algorithm="seedcat", e0o=0.9, e1o=0.9, e2i=accs[0], e2o=0.0))
        lines.append(record(100, [0], trial=trial, algorithm="seedcat", e1o=0.9, e2o=0.9, e0i=accs[1], e0o=0.0))
    lines.append(record(100, [2], algorithm="erm", e0o=0.9, e1o=0.9, e2i=0.05, e2o=0.0))
    return lines


def test_cells_hold_mean_and_error_over_trials_and_the_average_needs_every_environment():
    tables = {table.method: table for table in build_tables(_runs(), algorithms=["erm", "seedcat"])}
    table = tables["training_domain"]
    assert table.test_envs == [0, 1, 2] and list(table.cells) == ["erm", "seedcat"]
    env0, env1, env2 = table.cells["seedcat"]
    assert env2.mean == pytest.approx(20.0) and env2.error == pytest.approx(10 / math.sqrt(3))
    assert env0.mean == pytest.approx(60.0) and env1.mean is None
    assert table.average("seedcat") is None  # env1 was never a test environment
    markdown = table.markdown()
    assert "| seedcat | 60.0 ± 5.8 (n=3) | — | 20.0 ± 5.8 (n=3) | — |" in markdown
    assert "| erm | — | — | 5.0 (n=1) | — |" in markdown
    assert "needs the runs with two test environments" in tables["leave_one_out"].markdown()
    csv = tables_as_csv(list(tables.values()))
    assert "Toy,training_domain,seedcat,2,env2,20.0000,5.7735,3" in csv


def _write_run(folder: Path, lines, done=True):
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    if done:
        (folder / "done").touch()


def test_unfinished_and_broken_runs_are_counted_and_named_not_dropped_silently(tmp_path):
    _write_run(tmp_path / "a", [record(100, [2], e0o=0.5, e1o=0.5, e2i=0.4, e2o=0.4)])
    _write_run(tmp_path / "b", [record(100, [2], trial=1, e0o=0.5, e1o=0.5, e2i=0.4, e2o=0.4)], done=False)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "results.jsonl").write_text('{"step": 1, "args": {}}\n{oops\n')
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "results.jsonl").write_text('{"step": 1}\n')
    sweep = load_sweep(str(tmp_path))
    assert len(sweep.records) == 1 and sweep.unfinished == [str(tmp_path / "b")]
    assert dict(sweep.broken) == {str(tmp_path / "c"): "line 2 is not JSON (Expecting property name enclosed in "
                                   "double quotes)", str(tmp_path / "d"): "line 1 lacks args"}  # fmt: skip
    assert "1 finished runs, 1 unfinished, 2 broken." in sweep.report()


def test_collect_results_writes_markdown_csv_latex_and_a_png(tmp_path):
    for i, line in enumerate(_runs()):
        _write_run(tmp_path / "sweep" / f"run{i}", [line])
    out = tmp_path / "tables"
    command = [sys.executable, str(ROOT / "scripts" / "collect_results.py"), "--input_dir", str(tmp_path / "sweep")]
    result = subprocess.run(command + ["--output_dir", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "### Toy: Test-domain validation (oracle)" in result.stdout
    assert "7 finished runs, 0 unfinished, 0 broken." in result.stdout
    assert "20.0 ± 5.8" in (out / "results.md").read_text()
    latex = (out / "results.tex").read_text()
    assert "\\begin{tabular}{lcccc}" in latex and "20.0 $\\pm$ 5.8" in latex
    assert (out / "results.csv").read_text().startswith("dataset,selection,algorithm,test_env")
    assert (out / "Toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
