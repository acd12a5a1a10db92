"""One call on the GPU machine: tests with CUDA visible, the step-time benchmark, then sweeps until a deadline.

The GPU machine is lent for minutes, so everything runs from one command (``bench/device/gpu_session.sh``)
and packs what it made into at most eight files under ``$OUT``. In order:

1. the step-time benchmark (``bench/bench_step_time.py --device cuda``, with host-sync counts), alone;
2. then, side by side, the test suite (pytest-xdist workers, CUDA visible) and a queue of training runs,
   ``--workers`` at a time, each single-threaded: the ColoredMNIST sweep of Table 3 first (erm, groupdro,
   seedcat x test environments 0-2 x trials 0-2), trial by trial so an early stop leaves whole trials;
   then the second call's runs (``--part extra``: Table 4's grouping x K ablation, RotatedMNIST's test
   environments 0 and 5, ColoredMNIST's leave-one-domain-out pairs), as far as time allows;
3. at the deadline, runs still going are stopped (their ``results.jsonl`` lines stay, without ``done``, so
   ``collect_results.py`` lists them as unfinished), and everything is packed.

``--rehearse`` does the same on a CPU in a few minutes (20 steps, 3000 digits, two tests), so the script
is known to work before the GPU is used.
"""

from __future__ import annotations

import argparse
import json
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

from hf_seedcat.sweep import Job, make_jobs  # noqa: E402

MAX_FILES = 8  # what the device tool brings back
PARTS = ("main", "extra")


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


def start(job: Job, threads: int) -> Running:
    os.makedirs(job.output_dir, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log = open(os.path.join(job.output_dir, "log.txt"), "a", encoding="utf-8")
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


def pack(out: str, root: str, logs: dict[str, str]) -> list[str]:
    """Every run's results.jsonl, done marker, log tail and model card in one archive, plus the logs."""
    archive = os.path.join(out, "runs.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for folder, _, files in os.walk(root):
            for name in files:
                if name in ("results.jsonl", "done", "README.md", "log.txt", "group_composition.jsonl"):
                    path = os.path.join(folder, name)
                    tar.add(path, arcname=os.path.relpath(path, root))
    written = [archive]
    for name, path in logs.items():
        if os.path.exists(path):
            target = os.path.join(out, name)
            if os.path.abspath(path) != os.path.abspath(target):
                shutil.copyfile(path, target)
            written.append(target)
    if len(written) > MAX_FILES:
        raise RuntimeError(f"{len(written)} files to bring back, at most {MAX_FILES}: {written}")
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
    parser.add_argument("--budget_s", type=float, default=500, help="Seconds from start to the run deadline.")
    parser.add_argument("--workers", type=int, default=14, help="Training runs at a time.")
    parser.add_argument("--test_workers", type=int, default=2, help="pytest-xdist workers (0: no tests).")
    parser.add_argument("--bench_timeout_s", type=float, default=120)
    parser.add_argument("--rehearse", action="store_true", help="CPU dress rehearsal: tiny runs, two tests.")
    args = parser.parse_args(argv)
    if args.rehearse:
        args.budget_s = min(args.budget_s, 400)
        args.workers = min(args.workers, 2)
        args.test_workers = min(args.test_workers, 1)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    session_log = os.path.join(args.out, "session.log")
    handle = open(session_log, "a", encoding="utf-8")

    def say(message: str) -> None:
        line = f"[{time.time() - t0:6.1f}s] {message}"
        print(line, flush=True)
        handle.write(line + "\n")
        handle.flush()

    report = environment_report()
    say(f"environment: {json.dumps(report)}")
    cuda = report["cuda"]
    run_flags = ["--bf16", "--disable_tqdm", "true"] if cuda else ["--disable_tqdm", "true", "--use_cpu"]
    bench_flags = ["--device", "cuda", "--bf16", "--rounds", "5", "--steps", "20", "--count_syncs", "20"]
    test_selection: list[str] = []
    if args.rehearse:
        run_flags += ["--max_steps", "20", "--max_digits", "3000", "--checkpoint_freq", "10", "--regroup_steps", "10"]
        run_flags += ["--eval_splits", "selection", "--per_device_eval_batch_size", "256"]
        bench_flags = ["--device", "cpu", "--rounds", "1", "--steps", "2", "--max_digits", "3000"]
        test_selection = ["tests/test_weighting.py", "tests/test_sampling.py"]
    elif not cuda:
        say("error: no CUDA device; use --rehearse on a CPU.")
        return 2

    tests = None
    test_log = os.path.join(args.out, "tests.log")
    if args.part == "main" and args.test_workers:
        command = [sys.executable, "-m", "pytest", "-q", "-rfEs", "--durations=15", "-p", "no:cacheprovider"]
        command += ["-n", str(args.test_workers)] if args.test_workers > 1 else []  # pytest-xdist
        command += ["--junitxml", os.path.join(args.out, "tests.xml"), *test_selection]
        env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
        tests = subprocess.Popen(command, stdout=open(test_log, "w"), stderr=subprocess.STDOUT, cwd=REPO, env=env)
        say(f"tests started: {' '.join(command[2:])}")

    if args.part == "main":
        bench_log = os.path.join(args.out, "bench_step_time.log")
        bench_json = os.path.join(args.out, "bench_step_time.json")
        say("step-time benchmark ...")
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

    jobs = planned_jobs(args.part, args.work, run_flags)
    if args.rehearse:
        jobs = jobs[:3] + [job for job in jobs if "ablation" in job.output_dir][:1]
    say(f"{len(jobs)} runs queued, {args.workers} at a time, deadline {args.budget_s:.0f} s after start")
    outcome = run_queue(jobs, args.workers, t0 + args.budget_s, say)

    if tests is not None:
        remaining = max(5.0, t0 + args.budget_s + 20 - time.time())
        try:
            say(f"tests: exit status {tests.wait(timeout=remaining)}")
        except subprocess.TimeoutExpired:
            tests.kill()
            say("tests: stopped at the deadline (see tests.log for how far they got)")
    summary = os.path.join(args.out, "runs.json")
    with open(summary, "w", encoding="utf-8") as f:
        json.dump({"environment": report, "args": vars(args), "runs": outcome}, f, indent=1)
    done = sum(1 for item in outcome if item["status"] == 0)
    say(f"{done} of {len(outcome)} runs finished; packing")
    handle.close()
    written = pack(args.out, args.work, {})
    print(f"[{time.time() - t0:6.1f}s] packed: {sorted(os.listdir(args.out))}", flush=True)
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
