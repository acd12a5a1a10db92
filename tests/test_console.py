"""The console: a short line per log in place of Trainer's raw dicts, while the logs themselves keep every key."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_domain_dataset, tiny_config, tiny_model
from transformers import PrinterCallback, ProgressCallback

from hf_seedcat import SeedCatTrainer
from hf_seedcat.analysis.composition import GroupCompositionCallback
from hf_seedcat.console_logging import MAX_LINE, ConsoleLogCallback, summary_line
from hf_seedcat.evaluation import DomainAccuracy


def _trainer(tmp_path, **overrides) -> SeedCatTrainer:
    """Seedcat on three domains with the colour attributes, regrouped every 3 steps and logged at every step."""
    rng = np.random.default_rng(0)
    data = make_domain_dataset(
        {"a": 40, "b": 24, "c": 30}, color_agrees=rng.integers(0, 2, 94), label_flipped=rng.integers(0, 2, 94)
    )
    # tiny_config's set-up with the Trainer's own learning rate and evaluation batch, and the progress bar on.
    settings = dict(max_steps=7, per_device_train_batch_size=24, groups_per_domain=4, logging_steps=1)
    settings |= dict(learning_rate=5e-5, per_device_eval_batch_size=8, disable_tqdm=False)
    settings.update(overrides)
    trainer = SeedCatTrainer(
        model=tiny_model(),
        args=tiny_config(tmp_path, **settings),
        train_dataset=data,
        eval_dataset=data,
        compute_metrics=DomainAccuracy(["a", "b", "c"]),
    )
    trainer.add_callback(GroupCompositionCallback(trainer, figure=False))
    return trainer


def test_the_console_shows_short_lines_and_the_logs_keep_every_key(tmp_path, capsys):
    trainer = _trainer(tmp_path, eval_strategy="steps", eval_steps=7)
    printers = [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, (PrinterCallback, ProgressCallback))]
    assert [type(cb) for cb in printers] == [ConsoleLogCallback]  # Trainer's own printer is gone
    trainer.train()
    out, err = capsys.readouterr()
    lines = (out + err).replace("\r", "\n").splitlines()
    assert lines and max(len(line) for line in lines) <= MAX_LINE
    loss_lines = [line for line in lines if line.startswith("step ") and " loss " in line and "max q" in line]
    assert len(loss_lines) == 7  # one per step (logging_steps=1), each with the loss and the heaviest group
    assert any("composition: a hardest" in line for line in lines)  # each regroup says what it gathered
    assert any("eval: acc" in line for line in lines)
    assert "%|" in err  # Trainer's progress bar is still there (the quickstart test below runs without it)
    # The logs themselves are untouched: every group's q and every composition value is in the log history.
    logged = {key for entry in trainer.state.log_history for key in entry}
    names = trainer.seed_categories.group_names
    assert len(names) == 12
    assert {f"q/{name}" for name in names} | {f"group_size/{name}" for name in names} <= logged
    assert {f"composition/{name}/color_disagrees" for name in names} <= logged
    assert {f"composition/{unit}/hardest_precision" for unit in ("a", "b", "c")} <= logged
    composition_logs = [entry for entry in trainer.state.log_history if "composition/a/hardest_precision" in entry]
    assert [entry["step"] for entry in composition_logs] == [0, 3, 6]
    assert all(len(entry) > 40 for entry in composition_logs)  # the dicts that used to be printed whole


def test_with_disable_tqdm_the_lines_stay_and_the_bar_goes(tmp_path):
    trainer = _trainer(tmp_path, disable_tqdm=True)
    (console,) = [
        cb for cb in trainer.callback_handler.callbacks if isinstance(cb, (PrinterCallback, ProgressCallback))
    ]
    assert isinstance(console, ConsoleLogCallback) and not console.bars


def test_one_line_per_kind_of_log():
    q = {f"q/d{d}:{k}": 0.05 for d in range(10) for k in range(4)} | {"q/d3:3": 0.4}
    line = summary_line({"loss": 0.61234, "learning_rate": 0.001, "grad_norm": 0.4, **q}, 120, 300)
    assert line == "step 120/300  loss 0.6123  lr 1.00e-03  max q 0.400 (d3:3, uniform 0.025)"
    assert summary_line(q, 100, 300) == "step 100/300  end of window: max q 0.400 (d3:3, uniform 0.025)"
    evaluation = {"eval_env2_in_loss": 1.745, "eval_env2_in_acc": 0.1182, "eval_env2_in_runtime": 3.8}
    assert summary_line(evaluation, 300, 300) == "step 300/300  eval env2_in: acc 11.8%, loss 1.745"
    composition = {"composition/+90%:3/color_disagrees": 0.6, "composition/+90%/hardest_precision": 0.6}
    composition["composition/+90%/hardest_recall"] = 0.88
    expected = "step 100/300  composition: +90% hardest 60.0% minority (catches 88.0%)"
    assert summary_line(composition, 100, 300) == expected
    per_domain = {"composition/+90%/color_disagrees": 0.1, "composition/+90%/hardest_precision": 0.1}
    expected = "step 0/300  composition: one category per domain, minority share +90% 10.0%"
    assert summary_line(per_domain, 0, 300) == expected
    done = {"train_runtime": 250.0, "train_loss": 0.55, "train_samples_per_second": 150.0}
    assert summary_line(done, 300, 300) == "step 300/300  trained in 250 s (0.83 s/step), mean loss 0.55"
    long_names = {f"a_metric_with_a_long_name_{i}": float(i) for i in range(20)}
    assert len(summary_line(long_names, 1, 2)) == MAX_LINE


@pytest.mark.slow
def test_the_quickstart_announces_each_run_and_says_what_seedcat_gathered(tmp_path, capsys):
    from hf_seedcat.cli.quickstart import main

    argv = ["--max_steps", "4", "--max_digits", "300", "--output_dir", str(tmp_path), "--disable_tqdm", "true"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= MAX_LINE
    assert "[1/2] erm: 4 steps on 300 ColoredMNIST digits" in out
    assert (
        "[2/2] seedcat: 4 steps on 300 ColoredMNIST digits, seed categories recomputed at steps 0, 1, 2 and 3" in out
    )
    assert any(line.startswith("| seedcat | 4 |") for line in lines) and any(
        line.startswith("| erm | 4 |") for line in lines
    )
    regroups = [line.strip() for line in lines if line.startswith("  step ")]
    assert [line.split(":")[0] for line in regroups] == ["step 0", "step 1", "step 2", "step 3"]
    assert all("color_disagrees (domain " in line for line in regroups)
    final = next(line for line in lines if line.startswith("seedcat's final q: step 4: "))
    weights = [float(part.rsplit(" ", 1)[1]) for part in final.split(": ", 2)[2].split(", ")]
    assert len(weights) == 8 and sum(weights) == pytest.approx(1.0, abs=5e-3)  # 8 values rounded to 3 places
