"""One call on the GPU machine: tests with CUDA visible, the step-time benchmark, then sweeps until a deadline.

The GPU machine is lent for minutes, so everything runs from one command (``bench/device/gpu_session.sh``)
and packs what it made into at most eight files under ``$OUT``. ``--part main``, in order:

1. the step-time benchmark (``bench/bench_step_time.py --device cuda``, with host-sync counts), alone;
2. then, side by side, the test suite (pytest-xdist workers, CUDA visible) and a queue of training runs,
   ``--workers`` at a time, each single-threaded: the ColoredMNIST sweep of Table 3 first (erm, groupdro,
   seedcat x test environments 0-2 x trials 0-2), trial by trial so an early stop leaves whole trials;
   then the second call's runs (``--part extra``: Table 4's grouping x K ablation, RotatedMNIST's test
   environments 0 and 5, ColoredMNIST's leave-one-domain-out pairs), as far as time allows;
3. at the deadline, runs still going are stopped (their ``results.jsonl`` lines stay, without ``done``, so
   ``collect_results.py`` lists them as unfinished), and everything is packed.

``--part study`` (issue 20: does any variant hold the invariant solution?) follows issue 20's call plan:

1. the step-time benchmark, alone (no tests);
2. one solo run of the full ColoredMNIST command (Table 3's seedcat run, test environment 2, trial 0, every
   split evaluated every 100 steps), alone, timed from launch to done, with its start-up (imports, data,
   model: launch to the start of ``Trainer.train``), ``Trainer.train`` itself and the wrap-up after it apart;
3. the study: ``bench/study_issue12.py``'s eight arms (``ARMS``) x seeds 0-4 on ColoredMNIST, test
   environment 2, bf16, 5000 steps, ``--eval_splits selection --attribute_columns color_agrees``, every arm
   of seed 0, then of seed 1, ... so a deadline leaves whole seeds. Runs go to ``study/<arm>/test2_seed<s>``
   (the arms share algorithm names, so the folder names the arm, as ``study_issue12`` reads it); at the end
   ``study_issue12``'s table (``study.md``) and the question's figures per arm are written.

``--part worst_group`` (issue 18's full-length runs: the CPU ran them reduced, ``bench/issue18_cpu/``): with the
tests beside them, ColoredMNIST test environment 2 at full length (all digits, 5000 steps), trials 0-2, every
split evaluated, ``--attribute_columns color_agrees``: ``erm``, ``jtt`` (T = 1000, the default fifth) and
``seedcat``, each with ``--dfr``, into ``worst_group/``, and GroupDRO on ``--group_column color_agrees`` (the
upper bound) into ``worst_group/true_groups/``; trial by trial. At the end ``seedcat-collect``'s tables of
``worst_group/`` (``worst_group.md``: worst-group and average test accuracy under every selection rule).

What is left (``--part extra``) is for a later call. ``--resume`` continues on a machine still warm from a
call before: it keeps ``--work``, skips the tests, the benchmark and the solo run, and queues only the runs
without ``done`` (each resumes from its last checkpoint).

``--rehearse`` does the same on a CPU in a few minutes (20 steps, 3000 digits, two tests; the study: seeds
0-1), so the script is known to work before the GPU is used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from hf_seedcat.evaluation import DONE_FILE, read_results  # noqa: E402
from hf_seedcat.sweep import Job, make_jobs  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "bench"))
import study_issue12 as study  # noqa: E402

MAX_FILES = 8  # what the device tool brings back
PARTS = ("main", "extra", "study", "worst_group")
WORST_GROUP_DIR = "worst_group"  # under --work; GroupDRO's upper bound in its true_groups/
WORST_GROUP_FLAGS = ("--eval_splits", "selection", "--attribute_columns", "color_agrees")
WORST_GROUP_ARMS = ("erm", "erm+dfr", "groupdro", "jtt", "jtt+dfr", "seedcat", "seedcat+dfr")  # collect's order
STUDY_SEEDS = (0, 1, 2, 3, 4)  # issue 20: seeds 0-2 first, then 3-4
STUDY_FLAGS = ("--bf16", "--eval_splits", "selection")  # study_issue12 adds --attribute_columns color_agrees


@dataclass
class Running:
    job: Job
    process: subprocess.Popen
    started: float


def planned_jobs(part: str, root: str, run_flags: Sequence[str]) -> list[Job]:
    """The runs of a part, in the order they should start (whole trials first)."""
    sweep = os.path.join(root, "sweep")

    def by_trial(jobs: list[Job]) -> list[Job]:
        return sorted(jobs, key=lambda job: (job.trial_seed, job.test_envs, job.algorithm))

    algorithms = ["erm", "groupdro", "seedcat"]
    table3 = by_trial(make_jobs(["ColoredMNIST"], algorithms, sweep, n_trials=3, extra_args=run_flags))
    ablation = []
    for grouping in ("loss_rank", "kmeans"):
        for k in (2, 3, 4):
            if grouping == "loss_rank" and k == 4:
                continue  # the paper's default: Table 3's seedcat runs already are these
            flags = [*run_flags, "--grouping", grouping, "--groups_per_domain", str(k)]
            folder = os.path.join(root, "ablation", f"{grouping}_k{k}")
            ablation += make_jobs(["ColoredMNIST"], ["seedcat"], folder, n_trials=3, test_envs=[2], extra_args=flags)
    rotated = make_jobs(["RotatedMNIST"], algorithms, sweep, n_trials=3, test_envs=[0, 5], extra_args=run_flags)
    pairs = [
        job
        for job in make_jobs(["ColoredMNIST"], algorithms, sweep, n_trials=3, leave_one_out=True, extra_args=run_flags)
        if len(job.test_envs) == 2
    ]
    extra = by_trial(ablation) + by_trial(rotated) + by_trial(pairs)
    return table3 + extra if part == "main" else extra


def worst_group_jobs(root: str, run_flags: Sequence[str]) -> list[Job]:
    """Issue 18's full-length ColoredMNIST runs (test environment 2, trials 0-2), whole trials first: erm, jtt and
    seedcat with ``--dfr`` in ``worst_group/``; GroupDRO on the true groups, the upper bound, in
    ``worst_group/true_groups/`` (its runs' folder names are those of a ``groupdro`` sweep, so they get a folder of
    their own; collect reads ``worst_group/`` recursively)."""
    flags = [*run_flags, *WORST_GROUP_FLAGS]
    methods = make_jobs(
        ["ColoredMNIST"],
        ["erm", "jtt", "seedcat"],
        os.path.join(root, WORST_GROUP_DIR),
        n_trials=3,
        test_envs=[2],
        extra_args=[*flags, "--dfr"],
    )
    bound = make_jobs(
        ["ColoredMNIST"],
        ["groupdro"],
        os.path.join(root, WORST_GROUP_DIR, "true_groups"),
        n_trials=3,
        test_envs=[2],
        extra_args=[*flags, "--group_column", "color_agrees"],
    )
    return sorted(methods + bound, key=lambda job: (job.trial_seed, job.algorithm))


def collect_worst_group(root: str, out: str, window_after_step: int, say) -> str | None:
    """``seedcat-collect`` over ``root/worst_group`` (both arms' folders; its tables outside ``root``, which is
    packed), its ``results.md`` brought back as ``worst_group.md``."""
    tables = root.rstrip(os.sep) + "_worst_group_tables"
    command = [sys.executable, "-m", "hf_seedcat.cli.collect", "--input_dir", os.path.join(root, WORST_GROUP_DIR)]
    command += ["--output_dir", tables, "--window_after_step", str(window_after_step)]
    command += ["--algorithms", *WORST_GROUP_ARMS]
    status = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    say(f"collect: exit status {status.returncode}{'' if status.returncode == 0 else ': ' + status.stderr[-2000:]}")
    if status.returncode != 0 or not os.path.exists(os.path.join(tables, "results.md")):
        return None
    target = os.path.join(out, "worst_group.md")
    shutil.copyfile(os.path.join(tables, "results.md"), target)
    return target


def study_settings(root: str, rehearse: bool = False) -> argparse.Namespace:
    """Issue 20's study as ``bench/study_issue12.py``'s own arguments, which its ``commands`` and ``summarize`` read:
    every arm, test environment 2, 5000 steps, an evaluation every 100 (the rehearsal: 20 steps, every 10, 3000
    digits, seeds 0-1)."""
    return argparse.Namespace(
        output_root=os.path.join(root, "study"),
        arms=list(study.ARMS),
        seeds=[0, 1] if rehearse else list(STUDY_SEEDS),
        test_envs=[2],
        max_steps=20 if rehearse else 5000,
        checkpoint_freq=10 if rehearse else 100,
        max_digits=3000 if rehearse else None,
        leave_one_out=False,
    )


def study_jobs(settings: argparse.Namespace, run_flags: Sequence[str]) -> list[Job]:
    """Every arm of the first seed, then every arm of the next: whole seeds first. ``Job.algorithm`` is the arm."""
    jobs = []
    for seed in settings.seeds:
        one_seed = argparse.Namespace(**{**vars(settings), "seeds": [seed]})
        for folder, command in study.commands(one_seed, list(run_flags)):
            arm = os.path.basename(os.path.dirname(folder))
            jobs.append(Job("ColoredMNIST", arm, tuple(settings.test_envs), seed, 0, folder, tuple(command)))
    return jobs


def study_question(settings: argparse.Namespace) -> list[dict]:
    """Issue 20's question per arm, over its finished seeds: does it end above 50% on the test environment at the
    last step in at least 4 of 5 seeds (``needed``: 80% of the seeds, rounded up), with its mean over the
    evaluations after the first fifth of the run (steps > 1000 of 5000, pooled over seeds) above 50% too?
    ``answer``: yes or no once every seed has finished; no as soon as too few seeds are left to reach
    ``needed``; open otherwise."""
    (test_env,) = settings.test_envs
    key, after = f"env{test_env}_in_acc", settings.max_steps // 5
    needed = math.ceil(0.8 * len(settings.seeds))
    rows = []
    for arm in settings.arms:
        last, window = [], []
        for seed in settings.seeds:
            folder = study.run_folder(settings.output_root, arm, settings.test_envs, seed)
            if os.path.exists(os.path.join(folder, DONE_FILE)):
                records = read_results(folder)
                last.append(records[-1][key])
                window += [record[key] for record in records if record["step"] > after]
        above = sum(accuracy > 0.5 for accuracy in last)
        mean = sum(window) / len(window) if window else None
        if above + len(settings.seeds) - len(last) < needed:
            answer = "no"
        elif len(last) < len(settings.seeds):
            answer = "open"
        else:
            answer = "yes" if above >= needed and mean is not None and mean > 0.5 else "no"
        rows.append(
            {
                "arm": arm,
                "finished": len(last),
                "above_50_at_last_step": above,
                "needed": needed,
                "last_step": last,
                "window_after_step": after,
                "window_mean": mean,
                "answer": answer,
            }
        )
    return rows


def solo_job(root: str, run_flags: Sequence[str]) -> Job:
    """Table 3's seedcat run on test environment 2, trial 0: the full command, every split evaluated."""
    solo = os.path.join(root, "solo")
    (job,) = make_jobs(["ColoredMNIST"], ["seedcat"], solo, n_trials=1, test_envs=[2], extra_args=run_flags)
    return job


def time_solo(job: Job, timeout_s: float, say) -> dict:
    """Run ``job`` alone and time it: launch to done, split at ``Trainer.train`` (its ``train_runtime``, and the
    moment its "trained in" line reaches the log) into start-up, training and wrap-up."""
    say(f"solo run, alone: {job.shell_command()}")
    running = start(job, threads=None)
    log, trained_at = os.path.join(job.output_dir, "log.txt"), None
    while running.process.poll() is None:
        if time.time() - running.started > timeout_s:
            running.process.kill()
            running.process.wait()
            say(f"solo run: stopped after {timeout_s:.0f} s")
            return {"run": job.output_dir, "status": f"stopped after {timeout_s:.0f} s"}
        if trained_at is None and os.path.exists(log):
            with open(log, encoding="utf-8", errors="replace") as handle:
                trained_at = time.time() if "trained in" in handle.read() else None
        time.sleep(0.2)
    done = time.time()
    timing = {"run": job.output_dir, "status": running.process.returncode, "wall_s": round(done - running.started, 1)}
    state = os.path.join(job.output_dir, "trainer_state.json")
    if os.path.exists(state):
        with open(state, encoding="utf-8") as handle:
            history = json.load(handle)["log_history"]
        runtime = next((entry["train_runtime"] for entry in history if "train_runtime" in entry), None)
        if runtime is not None and trained_at is not None:
            timing["start_up_s"] = round(trained_at - running.started - runtime, 1)
            timing["train_s"] = round(runtime, 1)
            timing["wrap_up_s"] = round(done - trained_at, 1)
    parts = ""
    if "train_s" in timing:
        parts = (
            f": {timing['start_up_s']} s start-up (imports, data, model), {timing['train_s']} s Trainer.train "
            f"(steps and evaluations), {timing['wrap_up_s']} s wrap-up (save, model card, tables)"
        )
    say(f"solo run: exit status {timing['status']}, {timing['wall_s']} s launch to done{parts}")
    return timing


def start(job: Job, threads: int | None) -> Running:
    """Launch ``job``, its output in ``log.txt`` in its folder; ``threads`` None: the library defaults (all cores)."""
    os.makedirs(job.output_dir, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    log = open(os.path.join(job.output_dir, "log.txt"), "a", encoding="utf-8")
    log.write(job.shell_command() + "\n")
    log.flush()
    process = subprocess.Popen(job.command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    log.close()
    return Running(job, process, time.time())


def run_queue(jobs: Sequence[Job], workers: int, deadline: float, say, threads: int = 1) -> list[dict]:
    """Start jobs ``workers`` at a time until ``deadline``; stop the ones still running then."""
    queue, running, finished = list(jobs), [], []
    while queue or running:
        for item in list(running):
            status = item.process.poll()
            if status is not None:
                running.remove(item)
                wall = time.time() - item.started
                finished.append({"run": item.job.output_dir, "status": status, "wall_s": round(wall, 1)})
                say(f"{'done' if status == 0 else f'FAILED ({status})'} {item.job.output_dir} in {wall:.0f} s")
        now = time.time()
        if now >= deadline:
            for item in running:
                item.process.terminate()
            for item in running:
                try:
                    item.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    item.process.kill()
                if item.job.finished:  # its done file (a run's last write) came between the poll and the stop
                    wall = round(time.time() - item.started, 1)
                    finished.append({"run": item.job.output_dir, "status": 0, "wall_s": wall})
                    say(f"done {item.job.output_dir} in {wall:.0f} s, at the deadline")
                else:
                    finished.append({"run": item.job.output_dir, "status": "stopped at the deadline"})
                    say(f"stopped at the deadline: {item.job.output_dir}")
            finished += [{"run": job.output_dir, "status": "not started"} for job in queue]
            return finished
        while queue and len(running) < workers:
            job = queue.pop(0)
            running.append(start(job, threads))
            say(f"started {job.output_dir}")
        time.sleep(1)
    return finished


PACKED = ("results.jsonl", "done", "README.md", "log.txt", "group_composition.jsonl", "jtt_error_set.json", "dfr.json")


def pack(out: str, root: str, logs: dict[str, str]) -> list[str]:
    """Every run's results.jsonl, done marker, log and model card in one archive, plus the logs; fails if ``out``
    then holds more files than the device tool brings back."""
    archive = os.path.join(out, "runs.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for folder, _, files in os.walk(root):
            for name in files:
                if name in PACKED:
                    path = os.path.join(folder, name)
                    tar.add(path, arcname=os.path.relpath(path, root))
    written = [archive]
    for name, path in logs.items():
        if os.path.exists(path):
            target = os.path.join(out, name)
            if os.path.abspath(path) != os.path.abspath(target):
                shutil.copyfile(path, target)
            written.append(target)
    files = sorted(os.path.join(out, name) for name in os.listdir(out))
    if len(files) > MAX_FILES:
        raise RuntimeError(f"{len(files)} files to bring back, at most {MAX_FILES}: {files}")
    return written


def environment_report() -> dict:
    import torch

    report = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor(),
        "cpu_count": os.cpu_count(),
        "code_version": os.environ.get("HF_SEEDCAT_CODE_VERSION"),
    }
    for package in ("transformers", "accelerate", "datasets", "evaluate", "timm", "pyarrow", "sklearn"):
        try:
            report[package] = __import__(package).__version__
        except Exception as error:  # noqa: BLE001 - a report, not a check
            report[package] = f"missing ({error})"
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="Where the (at most 8) result files go ($OUT on the device).")
    parser.add_argument("--work", default="/tmp/seedcat_gpu", help="Where runs write (not brought back whole).")
    parser.add_argument("--part", choices=PARTS, default="main")
    parser.add_argument(
        "--budget_s",
        type=float,
        default=500,
        help="Seconds from the start (gpu_session.sh's, where it ran) to the run deadline; then stopping, "
        "summing up and packing take up to about 20 s more.",
    )
    parser.add_argument("--workers", type=int, default=14, help="Training runs at a time.")
    parser.add_argument("--test_workers", type=int, default=2, help="pytest-xdist workers (0: no tests).")
    parser.add_argument("--bench_timeout_s", type=float, default=120)
    parser.add_argument("--solo_timeout_s", type=float, default=240, help="--part study: the solo run's limit.")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="A later call on the same (warm) machine: keep --work, no tests, benchmark or solo run; queue the "
        "runs without a done file (each resumes from its last checkpoint).",
    )
    parser.add_argument("--rehearse", action="store_true", help="CPU dress rehearsal: tiny runs, two tests.")
    args = parser.parse_args(argv)
    if args.rehearse:
        args.budget_s = min(args.budget_s, 400)
        args.workers = min(args.workers, 2)
        args.test_workers = min(args.test_workers, 1)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = float(os.environ.get("SEEDCAT_SESSION_START", time.time()))  # gpu_session.sh's start: wheels, MPS count
    deadline = t0 + args.budget_s
    os.makedirs(args.out, exist_ok=True)
    if not args.resume:
        shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work, exist_ok=True)
    session_log = os.path.join(args.out, "session.log")
    handle = open(session_log, "a", encoding="utf-8")

    def say(message: str) -> None:
        line = f"[{time.time() - t0:6.1f}s] {message}"
        print(line, flush=True)
        handle.write(line + "\n")
        handle.flush()

    report = environment_report()
    say(f"environment: {json.dumps(report)}")
    say(f"arguments: {json.dumps(vars(args))}")
    cuda = report["cuda"]
    run_flags = ["--bf16", "--disable_tqdm", "true"] if cuda else ["--disable_tqdm", "true", "--use_cpu"]
    study_flags = list(STUDY_FLAGS) if cuda else ["--use_cpu", "--eval_splits", "selection"]
    bench_flags = ["--device", "cuda", "--bf16", "--rounds", "5", "--steps", "20", "--count_syncs", "20"]
    test_selection: list[str] = []
    if args.rehearse:
        run_flags += ["--max_steps", "20", "--max_digits", "3000", "--checkpoint_freq", "10", "--regroup_steps", "10"]
        run_flags += ["--eval_splits", "selection", "--per_device_eval_batch_size", "256", "--reference_step", "10"]
        study_flags += ["--regroup_steps", "10", "--per_device_eval_batch_size", "256"]
        bench_flags = ["--device", "cpu", "--rounds", "1", "--steps", "2", "--max_digits", "3000"]
        test_selection = ["tests/test_weighting.py", "tests/test_sampling.py"]
    elif not cuda:
        say("error: no CUDA device; use --rehearse on a CPU.")
        return 2

    tests = None
    test_log = os.path.join(args.out, "tests.log")
    if args.part in ("main", "worst_group") and args.test_workers and not args.resume:
        command = [sys.executable, "-m", "pytest", "-q", "-rfEs", "--durations=15", "-p", "no:cacheprovider"]
        command += ["-n", str(args.test_workers)] if args.test_workers > 1 else []  # pytest-xdist
        command += ["--junitxml", os.path.join(args.out, "tests.xml"), *test_selection]
        env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
        tests = subprocess.Popen(command, stdout=open(test_log, "w"), stderr=subprocess.STDOUT, cwd=REPO, env=env)
        say(f"tests started: {' '.join(command[2:])}")

    if args.part in ("main", "study") and not args.resume:
        bench_log = os.path.join(args.out, "bench_step_time.log")
        bench_json = os.path.join(args.out, "bench_step_time.json")
        say(f"step-time benchmark{' (beside the tests)' if tests else ', alone'} ...")
        with open(bench_log, "w", encoding="utf-8") as log:
            try:
                status = subprocess.run(
                    [sys.executable, "bench/bench_step_time.py", *bench_flags, "--output", bench_json],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=REPO,
                    timeout=args.bench_timeout_s,
                ).returncode
            except subprocess.TimeoutExpired:
                status = "timed out"
        say(f"step-time benchmark: {status}")

    solo = None
    if args.part == "study" and not args.resume:
        solo = time_solo(solo_job(args.work, run_flags), min(args.solo_timeout_s, deadline - time.time()), say)

    settings = study_settings(args.work, args.rehearse) if args.part == "study" else None
    if settings is not None:
        jobs = study_jobs(settings, study_flags)
    elif args.part == "worst_group":
        jobs = worst_group_jobs(args.work, run_flags)
        if args.rehearse:
            jobs = [job for job in jobs if job.trial_seed == 0]
    else:
        jobs = planned_jobs(args.part, args.work, run_flags)
        if args.rehearse:
            jobs = jobs[:3] + [job for job in jobs if "ablation" in job.output_dir][:1]
    earlier = [{"run": job.output_dir, "status": "finished in an earlier call"} for job in jobs if job.finished]
    jobs = [job for job in jobs if not job.finished]
    say(
        f"{len(jobs)} runs queued ({len(earlier)} finished earlier), {args.workers} at a time, deadline "
        f"{args.budget_s:.0f} s after start"
    )
    outcome = earlier + run_queue(jobs, args.workers, deadline, say)

    if tests is not None:
        remaining = max(5.0, deadline + 20 - time.time())
        try:
            say(f"tests: exit status {tests.wait(timeout=remaining)}")
        except subprocess.TimeoutExpired:
            tests.kill()
            say("tests: stopped at the deadline (see tests.log for how far they got)")
    question = None
    if settings is not None:
        rows = study.summarize(settings)
        again = "python bench/study_issue12.py --summarize_only --output_root study"  # in the unpacked runs.tar.gz
        again += f" --max_steps {settings.max_steps} --seeds {' '.join(map(str, settings.seeds))}"
        study.write_tables(
            settings, rows, again + (f" --max_digits {settings.max_digits}" if settings.max_digits else "")
        )
        shutil.copyfile(os.path.join(settings.output_root, "study.md"), os.path.join(args.out, "study.md"))
        question = study_question(settings)
        for row in question:
            mean = "-" if row["window_mean"] is None else f"{100 * row['window_mean']:.1f}%"
            say(
                f"question, {row['arm']}: {row['answer']} ({row['above_50_at_last_step']} of {row['finished']} "
                f"finished seeds above 50% at the last step, {row['needed']} of {len(settings.seeds)} needed; "
                f"mean over evaluations after step {row['window_after_step']}: {mean})"
            )
    if args.part == "worst_group":
        collect_worst_group(args.work, args.out, 10 if args.rehearse else 1000, say)
    summary = os.path.join(args.out, "runs.json")
    with open(summary, "w", encoding="utf-8") as f:
        json.dump(
            {"environment": report, "args": vars(args), "solo": solo, "runs": outcome, "question": question},
            f,
            indent=1,
        )
    done = sum(1 for item in outcome if item["status"] in (0, "finished in an earlier call"))
    say(f"{done} of {len(outcome)} runs finished; packing")
    handle.close()
    written = pack(args.out, args.work, {})
    print(f"[{time.time() - t0:6.1f}s] packed: {sorted(os.listdir(args.out))}", flush=True)
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
