"""The console commands: one ``error:`` line and status 2 for bad input, shims that still work, and a sweep
run from a wheel installed in a fresh virtual environment, away from this checkout."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from hf_seedcat.cli import collect, sweep, train
from hf_seedcat.cli.console import pop_debug_flag, run_command

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["seedcat-train", "seedcat-sweep", "seedcat-collect", "seedcat-patterns", "seedcat-quickstart"]


def _environment(**extra: str) -> dict[str, str]:
    """This environment with one thread, and PYTHONPATH only as given: a child must import the package it is
    meant to test (this checkout for its scripts, the wheel in the wheel's environment)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_bad_input_ends_with_one_error_line_and_status_2(capsys, tmp_path):
    assert train.main(["--groups_per_domain", "0", "--output_dir", str(tmp_path)]) == 2
    assert _error_line(capsys) == "error: groups_per_domain must be a positive integer, got 0."
    assert train.main(["--no_such_flag", "3", "--output_dir", str(tmp_path)]) == 2
    assert _error_line(capsys) == "error: unrecognized arguments: --no_such_flag 3 (see seedcat-train --help)"
    missing = tmp_path / "missing"
    assert train.main(["--dataset", "ImageFolder", "--data_dir", str(missing), "--output_dir", str(tmp_path)]) == 2
    line = _error_line(capsys)
    assert line.startswith("error: ") and str(missing) in line
    assert sweep.main(["--output_dir", str(tmp_path), "--datasets", "NoSuchData"]) == 2
    assert _error_line(capsys).startswith("error: Unknown dataset 'NoSuchData'; known datasets: ")
    assert collect.main(["--input_dir", str(missing)]) == 2
    assert _error_line(capsys) == f"error: --input_dir {missing} is not a folder; pass a sweep's output folder."


def test_a_bad_value_is_argparses_error_on_one_line_not_a_usage_block(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--eval_splits", "everything"])
    assert exit_info.value.code == 2
    line = _error_line(capsys)
    assert line.startswith("error: argument --eval_splits/--eval-splits: invalid choice: 'everything'")
    assert line.endswith("(see seedcat-train --help)")


def test_debug_shows_the_traceback_and_a_bug_always_does(tmp_path):
    with pytest.raises(ValueError, match="groups_per_domain must be a positive integer"):
        train.main(["--groups_per_domain", "0", "--debug", "--output_dir", str(tmp_path)])

    def buggy(argv):
        raise KeyError("a bug, not bad input")

    with pytest.raises(KeyError):
        run_command(buggy, [])
    argv = ["--debug", "underflow_overflow", "--seed", "1"]  # TrainingArguments' own --debug takes a value
    assert not pop_debug_flag(argv) and argv == ["--debug", "underflow_overflow", "--seed", "1"]
    argv = ["--n_trials", "1", "--debug", "--", "--debug"]  # after --: a flag for the runs of a sweep
    assert pop_debug_flag(argv) and argv == ["--n_trials", "1", "--", "--debug"]


def test_a_script_is_a_shim_that_exits_like_its_command(tmp_path):
    command = [sys.executable, str(ROOT / "scripts" / "run_dg.py"), "--dro_eta", "0"]
    checkout = _environment(PYTHONPATH=str(ROOT))
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=checkout, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.splitlines() == ["error: dro_eta must be positive, got 0.0."]


def test_setup_declares_every_command_as_a_console_script_of_a_main_that_exists():
    declared = dict(
        re.findall(r'"(seedcat-[a-z]+) = (hf_seedcat\.cli\.[a-z]+):main"', (ROOT / "setup.py").read_text())
    )
    assert sorted(declared) == sorted(COMMANDS)
    for module in declared.values():
        assert callable(importlib.import_module(module).main)


@pytest.mark.slow
def test_a_sweep_runs_from_a_wheel_installed_in_a_fresh_environment(tmp_path, mnist_digits):
    # The package as a wheel, built from a copy of its sources (the checkout stays clean).
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "hf_seedcat", source / "hf_seedcat", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)]
    subprocess.run(build, check=True, capture_output=True, timeout=300, env=_environment())
    (wheel,) = (tmp_path / "dist").glob("hf_seedcat-*.whl")

    # A fresh venv: its own site-packages first, then this interpreter's (torch, transformers...) appended by a
    # .pth line, which adds the folder but runs none of its .pth files: no editable install of this checkout.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    own_site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (own_site / "parent_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = [*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300, env=_environment())
    for name in COMMANDS:
        assert (venv / "bin" / name).is_file(), name

    elsewhere = tmp_path / "elsewhere"  # not the repository: nothing to find scripts/run_dg.py by
    elsewhere.mkdir()
    found = subprocess.check_output(
        [str(python), "-c", "import hf_seedcat; print(hf_seedcat.__file__)"],
        text=True,
        cwd=elsewhere,
        env=_environment(),
    )
    assert Path(found.strip()).is_relative_to(own_site)

    command = [str(venv / "bin" / "seedcat-sweep"), "--datasets", "ColoredMNIST", "--algorithms", "erm"]
    command += ["--n_trials", "1", "--test_envs", "2", "--output_dir", "sweep", "--"]
    command += ["--max_digits", "900", "--max_steps", "2", "--checkpoint_freq", "2", "--per_device_train_batch_size"]
    command += ["16", "--eval_splits", "selection", "--use_cpu", "--disable_tqdm", "true"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=elsewhere, env=_environment())
    run = elsewhere / "sweep" / "ColoredMNIST" / "erm_test2_trial0_hp0"
    log = (run / "log.txt").read_text() if (run / "log.txt").exists() else ""
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:] + log[-3000:]
    assert "ran 1, skipped 0 finished, failed 0." in result.stdout and (run / "done").exists()
    (record,) = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert record["step"] == 2 and 0.0 <= record["env2_in_acc"] <= 1.0
