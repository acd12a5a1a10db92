"""A sweep: algorithms x datasets x test environments x trials x hyperparameter samples, one folder per run.

A split-based dataset (train / validation / test, e.g. a Waterbirds-style ``hub:`` folder) has no
environment to hold out: its runs get no ``--test_envs`` and their folders no ``_test`` part. A dataset's
folder is its name with every character a path cannot carry as a name replaced by ``_`` (``hub:org/set``
-> ``hub_org_set``), so a Hub id or a local path stays one folder under the sweep's root.

A run is finished when its folder holds the ``done`` file that ``run_experiment`` writes last; a
sweep skips finished runs and relaunches the others, which resume from their last complete
checkpoint (checkpoints are saved atomically, so there is never a half-written one to trip on).
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .evaluation.tables import DONE_FILE
from .hparams import hparams_to_flags, sample_hparams

# A run is the package's module, not a script by path, so a sweep works from a wheel install as from a checkout.
TRAIN_MODULE = "hf_seedcat.cli.train"
LAUNCHERS = ("local", "parallel", "commands")


@dataclass(frozen=True)
class Job:
    dataset: str
    algorithm: str
    test_envs: tuple[int, ...]
    trial_seed: int
    hparams_seed: int
    output_dir: str
    command: tuple[str, ...]

    @property
    def finished(self) -> bool:
        return os.path.exists(os.path.join(self.output_dir, DONE_FILE))

    @property
    def started(self) -> bool:
        return os.path.isdir(self.output_dir)

    def shell_command(self) -> str:
        return " ".join(shlex.quote(part) for part in self.command)


def run_name(algorithm: str, test_envs: Sequence[int], trial_seed: int, hparams_seed: int) -> str:
    held_out = f"_test{'-'.join(map(str, test_envs))}" if test_envs else ""
    return f"{algorithm}{held_out}_trial{trial_seed}_hp{hparams_seed}"


def dataset_folder(dataset: str) -> str:
    """The dataset's folder name under the sweep's root: ``hub:org/set`` -> ``hub_org_set``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", dataset).strip("_") or "dataset"


def environment_layout(dataset: str, data_dir: str | None = None, run_args: Sequence[str] = ()) -> tuple[int, bool]:
    """How many environments a dataset has, and whether it is split-based (then there is one, and no test
    environment to choose); the MNIST datasets are known without building them. Others are loaded as the runs
    will load them, with the runs' flags (``run_args``: ``--domain_column``, ``--text_column`` ...)."""
    from .cli.train import parse_arguments
    from .data_scripts import colored_mnist, rotated_mnist
    from .experiment import load_run_dataset

    known = {"ColoredMNIST": colored_mnist.ENVIRONMENTS, "RotatedMNIST": rotated_mnist.ENVIRONMENTS}
    if dataset in known:
        return len(known[dataset]), False
    argv = ["--dataset", dataset, *(["--data_dir", data_dir] if data_dir else []), *run_args]
    data = load_run_dataset(*parse_arguments(argv))
    return len(data.environments), data.split_based


def sets_of_test_envs(n_envs: int, test_envs: Sequence[int] | None, leave_one_out: bool) -> list[tuple[int, ...]]:
    """Each chosen test environment alone, and with ``leave_one_out`` each pair that holds it out too."""
    chosen = list(range(n_envs)) if test_envs is None else list(test_envs)
    bad = [env for env in chosen if not 0 <= env < n_envs]
    if bad:
        raise ValueError(f"test environments {bad} are not in 0..{n_envs - 1}.")
    sets = [(env,) for env in chosen]
    if leave_one_out:
        pairs = {tuple(sorted((env, other))) for env in chosen for other in range(n_envs) if other != env}
        sets += sorted(pairs)
    return sets


def make_jobs(
    datasets: Sequence[str],
    algorithms: Sequence[str],
    output_dir: str,
    n_trials: int = 3,
    n_hparams: int = 1,
    test_envs: Sequence[int] | None = None,
    leave_one_out: bool = False,
    extra_args: Sequence[str] = (),
    data_dir: str | None = None,
    python: str = sys.executable,
) -> list[Job]:
    """Every run of the sweep. The trial seeds the splits and the initial weights alike, so every
    algorithm and hyperparameter sample of a trial starts from the same weights."""
    jobs = []
    for dataset in datasets:
        n_envs, split_based = environment_layout(dataset, data_dir, extra_args)
        if split_based and (test_envs or leave_one_out):
            raise ValueError(
                f"{dataset} comes as train / validation / test splits, so it has no environment to hold out: "
                "drop --test_envs and --leave_one_out for it (sweep it on its own)."
            )
        env_sets = [()] if split_based else sets_of_test_envs(n_envs, test_envs, leave_one_out)
        for algorithm, envs, trial, hparams_seed in itertools.product(
            algorithms, env_sets, range(n_trials), range(n_hparams)
        ):
            folder = os.path.join(output_dir, dataset_folder(dataset), run_name(algorithm, envs, trial, hparams_seed))
            command = [python, "-m", TRAIN_MODULE, "--dataset", dataset, "--algorithm", algorithm]
            if envs:
                command += ["--test_envs", *map(str, envs)]
            command += ["--trial_seed", str(trial), "--seed", str(trial)]
            command += ["--hparams_seed", str(hparams_seed)]
            if data_dir:
                command += ["--data_dir", data_dir]
            if hparams_seed:  # sample 0: the run's own defaults, which are sample 0 (hparams.default_hparams)
                hparams = sample_hparams(algorithm, dataset, hparams_seed, trial)
                command += hparams_to_flags(hparams, n_envs - len(envs))
            command += [*extra_args, "--output_dir", folder]
            jobs.append(Job(dataset, algorithm, envs, trial, hparams_seed, folder, tuple(command)))
    return jobs


def run_job(job: Job, threads: int | None = None) -> int:
    """Run one job, its output in ``log.txt`` inside its folder; returns the exit status."""
    os.makedirs(job.output_dir, exist_ok=True)
    env = dict(os.environ)
    if threads:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    with open(os.path.join(job.output_dir, "log.txt"), "a", encoding="utf-8") as log:
        return subprocess.run(job.command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode


def launch(jobs: Sequence[Job], launcher: str = "local", n_workers: int = 1, restart_unfinished: bool = False) -> dict:
    """Run the unfinished jobs and say what happened: ``{"skipped": [...], "failed": [...], "ran": [...]}``.

    ``local`` runs them one after another, ``parallel`` ``n_workers`` at a time (threads split among
    them); ``commands`` runs nothing and is for a scheduler (see ``write_commands``).
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f"Unknown launcher {launcher!r}; known: {', '.join(LAUNCHERS)}.")
    todo = [job for job in jobs if not job.finished]
    outcome = {"skipped": [job for job in jobs if job.finished], "ran": [], "failed": []}
    if launcher == "commands":
        return outcome
    if restart_unfinished:
        for job in todo:
            shutil.rmtree(job.output_dir, ignore_errors=True)
    workers = n_workers if launcher == "parallel" else 1
    threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for job, status in zip(todo, pool.map(lambda job: run_job(job, threads), todo), strict=True):
            outcome["ran" if status == 0 and job.finished else "failed"].append(job)
    return outcome


def write_commands(jobs: Sequence[Job], path: str) -> int:
    """One shell line per unfinished job, for ``sbatch --array`` or GNU parallel; returns the count."""
    lines = [job.shell_command() + "\n" for job in jobs if not job.finished]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    return len(lines)
