"""Sweeps: the job list, hyperparameter samples, skipping finished runs and redoing unfinished ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hf_seedcat.hparams import default_hparams, hparams_to_flags, sample_hparams
from hf_seedcat.sweep import Job, launch, make_jobs, sets_of_test_envs, write_commands

ROOT = Path(__file__).resolve().parents[1]


def test_every_combination_is_one_folder_with_its_own_command(tmp_path):
    jobs = make_jobs(["ColoredMNIST"], ["erm", "groupdro", "seedcat"], str(tmp_path), n_trials=3, n_hparams=2)
    assert len(jobs) == 3 * 3 * 3 * 2  # algorithms x test environments x trials x samples
    assert len({job.output_dir for job in jobs}) == len(jobs)
    job = next(j for j in jobs if (j.algorithm, j.test_envs, j.trial_seed, j.hparams_seed) == ("seedcat", (2,), 1, 0))
    assert job.output_dir == str(tmp_path / "ColoredMNIST" / "seedcat_test2_trial1_hp0")
    command = " ".join(job.command)
    assert job.command[:3] == (sys.executable, "-m", "hf_seedcat.cli.train")  # the package's module, not a path
    assert "--test_envs 2 --trial_seed 1 --seed 1 --hparams_seed 0 --output_dir" in command
    assert "--learning_rate" not in command  # sample 0 is the run's own defaults
    sampled = next(j for j in jobs if (j.algorithm, j.hparams_seed) == ("seedcat", 1))
    assert "--learning_rate" in sampled.command and "--groups_per_domain" in sampled.command


def _write_split_folder(folder: Path) -> Path:
    """A Hub-layout folder of train / validation / test CSV files with no domain column."""
    folder.mkdir()
    for split in ("train", "validation", "test"):
        rows = ["text,label,source"] + [f"review {i},{i % 2},{i % 3 == 0:d}" for i in range(12)]
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_a_split_based_dataset_is_swept_without_a_test_environment(tmp_path):
    data = _write_split_folder(tmp_path / "reviews")
    jobs = make_jobs([f"hub:{data}"], ["erm", "jtt"], str(tmp_path / "sweep"), n_trials=2)
    assert len(jobs) == 2 * 2  # algorithms x trials: no environment to hold out
    folder = tmp_path / "sweep" / ("hub_" + str(data).strip("/").replace("/", "_"))
    assert sorted(job.output_dir for job in jobs) == sorted(
        str(folder / f"{algorithm}_trial{trial}_hp0") for algorithm in ("erm", "jtt") for trial in (0, 1)
    )
    assert all("--test_envs" not in job.command and job.test_envs == () for job in jobs)
    with pytest.raises(ValueError, match="no environment to hold out: drop --test_envs"):
        make_jobs([f"hub:{data}"], ["erm"], str(tmp_path / "sweep"), test_envs=[0])


def test_the_sweep_counts_environments_with_the_runs_own_data_flags(tmp_path):
    # A domain column not named "domain" is named after "--"; the sweep must load the data with it, as each run
    # does, or it stops before the first run on "no column ['domain', 'text']".
    data = tmp_path / "reviews"
    data.mkdir()
    rows = ["sentence,label,site"] + [f"review {i},{i % 2},{('north', 'south', 'east')[i % 3]}" for i in range(30)]
    (data / "train.csv").write_text("\n".join(rows) + "\n")
    flags = ["--domain_column", "site", "--text_column", "sentence"]
    jobs = make_jobs([f"hub:{data}"], ["erm"], str(tmp_path / "sweep"), n_trials=1, extra_args=flags)
    assert sorted(job.test_envs for job in jobs) == [(0,), (1,), (2,)]  # east, north, south
    assert all(job.command[-6:-2] == tuple(flags) for job in jobs)
    with pytest.raises(ValueError, match=r"no column \['domain', 'text'\].*set --domain_column"):
        make_jobs([f"hub:{data}"], ["erm"], str(tmp_path / "sweep"), n_trials=1)


def test_leave_one_out_adds_each_pair_of_test_environments_once():
    assert sets_of_test_envs(3, None, False) == [(0,), (1,), (2,)]
    assert sets_of_test_envs(3, [2], True) == [(2,), (0, 2), (1, 2)]
    assert sets_of_test_envs(3, None, True)[3:] == [(0, 1), (0, 2), (1, 2)]
    with pytest.raises(ValueError, match=r"test environments \[3\] are not in 0..2"):
        sets_of_test_envs(3, [3], False)


def test_sample_zero_is_the_defaults_and_other_samples_are_deterministic_draws_in_domainbeds_ranges():
    assert sample_hparams("seedcat", "ColoredMNIST", 0, 0) == default_hparams("seedcat", "ColoredMNIST")
    assert default_hparams("seedcat", "ColoredMNIST") == {
        "lr": 1e-3, "weight_decay": 0.0, "batch_size": 64, "dro_eta": 1e-2, "groups_per_domain": 4,
        "regroup_steps": 1000,
    }  # fmt: skip
    draws = [sample_hparams("seedcat", "RotatedMNIST", h, t) for h in range(1, 21) for t in range(2)]
    assert all(10**-4.5 <= d["lr"] <= 10**-2.5 and 8 <= d["batch_size"] < 512 for d in draws)
    assert all(10**-3 <= d["dro_eta"] <= 10**-1 and d["groups_per_domain"] in (2, 3, 4) for d in draws)
    assert len({d["lr"] for d in draws}) == len(draws)
    assert sample_hparams("seedcat", "RotatedMNIST", 3, 1) == sample_hparams("seedcat", "RotatedMNIST", 3, 1)
    # a shared hyperparameter takes the same value for every algorithm: comparisons are paired
    assert sample_hparams("erm", "PACS", 3, 1)["lr"] == sample_hparams("seedcat", "PACS", 3, 1)["lr"]
    assert default_hparams("erm", "TextFolder") == {"lr": 2e-5, "weight_decay": 0.01, "batch_size": 32}
    assert default_hparams("erm", "hub:me/reviews", modality="text")["lr"] == 2e-5
    assert default_hparams("erm", "hub:me/photos", modality="image")["lr"] == 5e-5
    flags = hparams_to_flags({"lr": 0.01, "batch_size": 32}, n_train_envs=5)
    assert flags == ["--learning_rate", "0.01", "--per_device_train_batch_size", "160"]


def test_the_commands_launcher_writes_one_line_per_unfinished_run(tmp_path):
    jobs = make_jobs(["ColoredMNIST"], ["erm"], str(tmp_path), n_trials=2, test_envs=[2])
    Path(jobs[0].output_dir).mkdir(parents=True)
    (Path(jobs[0].output_dir) / "done").touch()
    assert write_commands(jobs, str(tmp_path / "commands.txt")) == 1
    (line,) = (tmp_path / "commands.txt").read_text().splitlines()
    assert line.endswith("erm_test2_trial1_hp0")


@pytest.mark.slow
def test_a_sweep_skips_finished_runs_and_redoes_unfinished_ones(tmp_path, mnist_digits):
    sweep = [sys.executable, str(ROOT / "scripts" / "sweep.py"), "--datasets", "ColoredMNIST"]
    sweep += ["--algorithms", "erm", "seedcat", "--n_trials", "1", "--test_envs", "2", "--output_dir", str(tmp_path)]
    sweep += ["--", "--max_digits", "900", "--max_steps", "2", "--checkpoint_freq", "1", "--regroup_steps", "1"]
    sweep += [
        "--per_device_train_batch_size",
        "16",
        "--eval_splits",
        "selection",
        "--use_cpu",
        "--disable_tqdm",
        "true",
    ]

    def run():
        result = subprocess.run(sweep, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result.stdout

    assert "ran 2, skipped 0 finished, failed 0." in run()
    erm = tmp_path / "ColoredMNIST" / "erm_test2_trial0_hp0"
    seedcat = tmp_path / "ColoredMNIST" / "seedcat_test2_trial0_hp0"
    assert (erm / "done").exists() and (seedcat / "done").exists()
    assert "ran 0, skipped 2 finished, failed 0." in run()

    (seedcat / "done").unlink()  # as if killed before the end
    assert "ran 1, skipped 1 finished, failed 0." in run()
    steps = [json.loads(line)["step"] for line in open(seedcat / "results.jsonl")]
    assert steps == [1, 2] and (seedcat / "done").exists()
    record = json.loads(open(seedcat / "results.jsonl").readline())
    assert record["args"]["hparams_seed"] == 0 and record["args"]["environments"] == ["+90%", "+80%", "-90%"]


def _job(folder: Path, code: str) -> Job:
    """A job whose 'training' is a line of Python run in its folder's parent."""
    return Job("Toy", "erm", (0,), 0, 0, str(folder), (sys.executable, "-c", code))


def test_the_parallel_launcher_runs_unfinished_jobs_and_reports_failures(tmp_path):
    finish = "import pathlib; pathlib.Path('{}', 'done').touch()"
    ok_a, ok_b, broken, finished = (tmp_path / name for name in ("a", "b", "broken", "finished"))
    finished.mkdir()
    (finished / "done").touch()
    jobs = [
        _job(ok_a, finish.format(ok_a)),
        _job(ok_b, finish.format(ok_b)),
        _job(broken, "raise SystemExit(3)"),
        _job(finished, "raise SystemExit('must not run')"),
    ]
    outcome = launch(jobs, "parallel", n_workers=2)
    assert [job.output_dir for job in outcome["ran"]] == [str(ok_a), str(ok_b)]
    assert [job.output_dir for job in outcome["failed"]] == [str(broken)]
    assert [job.output_dir for job in outcome["skipped"]] == [str(finished)]
    assert (broken / "log.txt").exists()  # each run's output goes to its folder
    with pytest.raises(ValueError, match="Unknown launcher 'slurm'"):
        launch(jobs, "slurm")
