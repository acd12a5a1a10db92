"""The GPU machine's one-call session (bench/device/gpu_session.py): what it queues, in which order, and that
what it brings back fits the device tool's eight files."""

from __future__ import annotations

import importlib.util
import os
import sys
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
