"""The GPU machine's one-call session (bench/device/gpu_session.py): what it queues, in which order, and that
what it brings back fits the device tool's eight files."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections import Counter

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "bench", "device", "gpu_session.py")


@pytest.fixture(scope="module")
def session():
    spec = importlib.util.spec_from_file_location("gpu_session", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_table_3_comes_first_whole_trials_before_the_next(session, tmp_path):
    jobs = session.planned_jobs("main", str(tmp_path), ["--bf16"])
    table3 = jobs[:27]
    assert {(job.dataset, job.test_envs) for job in table3} == {("ColoredMNIST", (env,)) for env in range(3)}
    assert Counter(job.algorithm for job in table3) == {"erm": 9, "groupdro": 9, "seedcat": 9}
    assert [job.trial_seed for job in table3] == sorted(job.trial_seed for job in table3)
    assert all("--bf16" in job.command for job in jobs)
    extra = session.planned_jobs("extra", str(tmp_path), ["--bf16"])
    assert jobs[27:] == extra
    ablation = [job for job in extra if "ablation" in job.output_dir]
    assert len(ablation) == 15  # (loss_rank K=2,3 + kmeans K=2,3,4) x 3 trials; loss_rank K=4 is Table 3's
    swept = Counter(job.dataset for job in extra if "sweep" in job.output_dir)
    assert swept == {"RotatedMNIST": 18, "ColoredMNIST": 27}


def test_pack_brings_back_results_not_checkpoints(session, tmp_path):
    run = tmp_path / "work" / "sweep" / "ColoredMNIST" / "erm_test0_trial0_hp0"
    (run / "checkpoint-1000").mkdir(parents=True)
    (run / "checkpoint-1000" / "model.safetensors").write_bytes(b"0" * 100)
    for name in ("results.jsonl", "done", "log.txt"):
        (run / name).write_text("{}\n")
    out = tmp_path / "out"
    out.mkdir()
    written = session.pack(str(out), str(tmp_path / "work"), {})
    import tarfile

    with tarfile.open(written[0]) as tar:
        names = tar.getnames()
    assert sorted(os.path.basename(name) for name in names) == ["done", "log.txt", "results.jsonl"]
    with pytest.raises(RuntimeError, match="at most 8"):
        logs = {f"log{i}.txt": str(run / "log.txt") for i in range(8)}
        session.pack(str(out), str(tmp_path / "work"), logs)


def flag(command, name):
    """The value after ``name`` in a command (argparse takes the last one)."""
    return command[len(command) - 1 - command[::-1].index(name) + 1]


def test_the_study_queues_the_eight_arms_seed_by_seed_with_issue_20s_flags(session, tmp_path):
    settings = session.study_settings(str(tmp_path))
    jobs = session.study_jobs(settings, session.STUDY_FLAGS)
    arms = ["erm", "groupdro", "seedcat", "seedcat_keep_q", "seedcat_loss_average3", "seedcat_once500"]
    arms += ["seedcat_start500", "groupdro_true_groups"]
    assert list(session.study.ARMS) == arms  # the arms are study_issue12's own, imported
    assert [(job.trial_seed, job.algorithm) for job in jobs] == [(seed, arm) for seed in range(5) for arm in arms]
    for job in jobs:
        command, seed = list(job.command), str(job.trial_seed)
        assert job.output_dir == os.path.join(str(tmp_path), "study", job.algorithm, f"test2_seed{seed}")
        assert flag(command, "--output_dir") == job.output_dir
        assert (flag(command, "--dataset"), flag(command, "--test_envs")) == ("ColoredMNIST", "2")
        assert (flag(command, "--seed"), flag(command, "--trial_seed")) == (seed, seed)
        assert (flag(command, "--max_steps"), flag(command, "--checkpoint_freq")) == ("5000", "100")
        assert flag(command, "--eval_splits") == "selection"
        assert flag(command, "--attribute_columns") == "color_agrees"
        assert "--bf16" in command and "--use_cpu" not in command and "--max_digits" not in command
        arm_flags = session.study.ARMS[job.algorithm]
        assert any(command[i : i + len(arm_flags)] == arm_flags for i in range(len(command)))
    assert len({job.output_dir for job in jobs}) == 40
    assert flag(list(jobs[-1].command), "--group_column") == "color_agrees"  # the upper bound, last of each seed
    rehearsal = session.study_settings(str(tmp_path), rehearse=True)
    assert (rehearsal.seeds, rehearsal.max_steps, rehearsal.max_digits) == ([0, 1], 20, 3000)


def test_the_solo_run_is_table_3s_full_seedcat_command(session, tmp_path):
    job = session.solo_job(str(tmp_path), ["--bf16", "--disable_tqdm", "true"])
    command = list(job.command)
    assert (job.algorithm, job.test_envs, job.trial_seed) == ("seedcat", (2,), 0)
    assert "--bf16" in command and "--eval_splits" not in command and "--max_steps" not in command


def test_the_study_question_needs_4_of_5_seeds_above_half_and_a_late_mean_above_half(session, tmp_path):
    import json

    settings = session.study_settings(str(tmp_path))
    settings.arms = ["erm", "seedcat", "seedcat_keep_q"]

    def write(arm, seed, late, last, done=True):
        folder = tmp_path / "study" / arm / f"test2_seed{seed}"
        folder.mkdir(parents=True)
        steps = [(step, late) for step in range(100, 5000, 100)] + [(5000, last)]
        lines = [json.dumps({"step": step, "env2_in_acc": 0.1 if step <= 1000 else acc}) for step, acc in steps]
        (folder / "results.jsonl").write_text("\n".join(lines) + "\n")
        if done:
            (folder / "done").write_text("")

    for seed in range(5):
        write("erm", seed, 0.2, 0.6 if seed < 2 else 0.1)  # 2 of 5 above at the last step
        write("seedcat", seed, 0.55, 0.1 if seed == 0 else 0.7)  # 4 of 5, window mean 55%
    for seed in range(3):
        write("seedcat_keep_q", seed, 0.4, 0.9, done=seed < 2)  # 2 finished, 3 to go: open
    rows = {row["arm"]: row for row in session.study_question(settings)}
    assert {arm: row["answer"] for arm, row in rows.items()} == {
        "erm": "no",
        "seedcat": "yes",
        "seedcat_keep_q": "open",
    }
    assert (rows["seedcat"]["above_50_at_last_step"], rows["seedcat"]["needed"]) == (4, 4)
    assert rows["seedcat"]["window_mean"] == pytest.approx((39 * 0.55 * 5 + 0.1 + 4 * 0.7) / 200)
    assert rows["seedcat_keep_q"]["finished"] == 2


def test_the_deadline_stops_the_running_and_counts_a_run_whose_done_file_came_first(session, tmp_path):
    def job(name, code):
        folder = str(tmp_path / name)
        return session.Job("ColoredMNIST", name, (2,), 0, 0, folder, (sys.executable, "-c", code))

    done = tmp_path / "wrote_done" / "done"
    wrote_done = job("wrote_done", f"import time; open({str(done)!r}, 'w').close(); time.sleep(60)")
    jobs = [wrote_done, job("sleeps", "import time; time.sleep(60)"), job("queued", "pass")]
    said = []
    outcome = session.run_queue(jobs, workers=2, deadline=time.time() + 3, say=said.append)
    assert [(os.path.basename(item["run"]), item["status"]) for item in outcome] == [
        ("wrote_done", 0),
        ("sleeps", "stopped at the deadline"),
        ("queued", "not started"),
    ]
    assert (tmp_path / "sleeps" / "log.txt").read_text().startswith(sys.executable)  # the command heads the log


def test_the_worst_group_part_queues_issue_18s_full_length_arms_trial_by_trial(session, tmp_path):
    jobs = session.worst_group_jobs(str(tmp_path), ["--bf16"])
    assert [(job.trial_seed, job.algorithm) for job in jobs] == [
        (trial, arm) for trial in range(3) for arm in ("erm", "groupdro", "jtt", "seedcat")
    ]
    for job in jobs:
        command = list(job.command)
        assert (job.dataset, job.test_envs) == ("ColoredMNIST", (2,))
        assert flag(command, "--attribute_columns") == "color_agrees"
        assert flag(command, "--eval_splits") == "selection"
        assert "--bf16" in command and "--max_steps" not in command and "--max_digits" not in command
        if job.algorithm == "groupdro":  # the upper bound reads the attribute in training, and is not retrained
            assert flag(command, "--group_column") == "color_agrees" and "--dfr" not in command
            assert job.output_dir.startswith(str(tmp_path / "worst_group" / "true_groups") + os.sep)
        else:
            assert "--dfr" in command and "--group_column" not in command
            assert job.output_dir.startswith(str(tmp_path / "worst_group") + os.sep)
            assert "true_groups" not in job.output_dir.split(os.sep)
    assert len({job.output_dir for job in jobs}) == 12
    assert set(session.PACKED) >= {"jtt_error_set.json", "dfr.json", "results.jsonl", "done"}
