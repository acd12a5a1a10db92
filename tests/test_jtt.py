"""Just Train Twice: the error set is the saved stage-1 model's mistakes, stage 2 starts from a fresh
initialisation, error-set rows are drawn lambda times as often, and a kill in stage 2 resumes."""

from __future__ import annotations

import collections
import json
import os
import shutil

import numpy as np
import pytest
import torch
from helpers import RecordingTrainer, make_domain_dataset, tiny_config, tiny_model
from safetensors.torch import load_file

import hf_seedcat.modalities as modalities
from hf_seedcat import SeedCatConfig, jtt
from hf_seedcat.cli.train import parse_arguments
from hf_seedcat.data_scripts import load_domain_dataset
from hf_seedcat.dfr_stage import check_dfr_possible
from hf_seedcat.experiment import run_experiment
from hf_seedcat.indexed_dataset import INDEX_COLUMN


def test_error_set_rows_are_drawn_about_lambda_times_as_often_as_the_others(tmp_path):
    data = make_domain_dataset({"a": 40, "b": 40})
    error_rows = [0, 1, 2, 3, 4, 40, 41, 42]
    upweight = 4
    upsampled = jtt.upsample(data, error_rows, upweight)
    assert len(upsampled.dataset) == 80 + 8 * 3
    assert np.bincount(upsampled.source_rows, minlength=80)[error_rows].tolist() == [4] * 8
    config = tiny_config(tmp_path, algorithm="jtt", max_steps=150, logging_steps=1000)
    trainer = RecordingTrainer(model=tiny_model(), args=config, train_dataset=upsampled.dataset)
    trainer.train()
    drawn = collections.Counter(
        int(upsampled.source_rows[i]) for batch in trainer.seen for i in batch[INDEX_COLUMN].tolist()
    )
    for domain_rows in (range(0, 40), range(40, 80)):
        errors = [drawn[row] for row in domain_rows if row in error_rows]
        others = [drawn[row] for row in domain_rows if row not in error_rows]
        ratio = np.mean(errors) / np.mean(others)
        assert 3.0 < ratio < 5.3, ratio  # lambda = 4, from 150 steps of 8 rows per domain


def test_dfr_that_could_not_run_is_refused_before_training():
    with pytest.raises(ValueError, match="no --attribute_columns were given"):
        check_dfr_possible(None, 100)
    with pytest.raises(ValueError, match="this run has none"):
        check_dfr_possible(["color_agrees"], 0)


def test_jtt_settings_that_cannot_work_are_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"jtt_stage1_steps \(10\) must be below max_steps \(10\)"):
        SeedCatConfig(str(tmp_path), algorithm="jtt", max_steps=10, jtt_stage1_steps=10, use_cpu=True)
    with pytest.raises(ValueError, match="jtt_upweight .* must be a positive whole number"):
        SeedCatConfig(str(tmp_path), algorithm="jtt", max_steps=10, jtt_upweight=0, use_cpu=True)
    assert jtt.stage1_steps(SeedCatConfig(str(tmp_path), algorithm="jtt", max_steps=10, use_cpu=True)) == 2


@pytest.mark.slow
def test_two_stages_on_colored_mnist_error_set_fresh_start_and_resume(tmp_path, monkeypatch, mnist_digits):
    created = []

    def capture(*args, **kwargs):
        model = create(*args, **kwargs)
        created.append({name: value.clone() for name, value in model.state_dict().items()})
        return model

    create = modalities.create_image_classifier
    monkeypatch.setattr(modalities, "create_image_classifier", capture)
    out = tmp_path / "run"
    argv = ["--algorithm", "jtt", "--jtt_stage1_steps", "3", "--jtt_upweight", "5", "--max_digits", "1200"]
    argv += ["--max_steps", "6", "--checkpoint_freq", "3", "--save_steps", "3", "--save_total_limit", "2"]
    argv += ["--output_dir", str(out), "--disable_tqdm", "true", "--use_cpu", "--eval_splits", "selection"]
    argv += ["--attribute_columns", "color_agrees", "--dfr"]
    run_experiment(*parse_arguments(argv))

    # The error set: independently, the saved stage-1 model's mistakes on the training rows.
    saved = json.loads((out / jtt.ERROR_SET_FILE).read_text())
    stage1_weights = load_file(str(out / jtt.STAGE1_DIR / "model.safetensors"))
    lines = [json.loads(line) for line in open(out / "results.jsonl")]
    dfr_line = lines.pop()
    data = load_domain_dataset("ColoredMNIST", max_digits=1200, seed=lines[0]["args"]["seed"])
    train = data.training_dataset([2], augment=False)[:]
    model = modalities.create_image_classifier(data.input_shape, data.num_classes)
    model.load_state_dict(stage1_weights)
    model.eval()
    with torch.no_grad():
        predicted = model(pixel_values=train["pixel_values"]).logits.argmax(-1)
    expected = torch.nonzero(predicted != train["labels"]).flatten().tolist()
    assert saved["rows"] == expected and saved["stage1_steps"] == 3 and 0 < len(expected) < len(predicted)

    # Stage 2 starts from a fresh initialisation: the same weights stage 1 started from, not stage 1's result.
    assert len(created) == 3  # stage 1, stage 2, and the independent check's model above
    for name, initial in created[0].items():
        assert torch.equal(created[1][name], initial), name
    assert any(not torch.equal(stage1_weights[name], created[1][name]) for name in stage1_weights)
    assert [line["step"] for line in lines] == [3, 6]
    assert lines[-1]["hparams"]["jtt_upweight"] == 5 and lines[-1]["args"]["algorithm"] == "jtt"
    assert "env0_out_worst_group_acc" in lines[-1]

    # DFR after it: its own line (arm jtt+dfr) at the last step, trained and tuned on the training
    # environments' out splits only, and the card's per-group table on the test environment.
    assert dfr_line["dfr"] and dfr_line["args"]["algorithm"] == "jtt+dfr" and dfr_line["step"] == 6
    assert 0.0 <= dfr_line["env2_in_worst_group_acc"] <= dfr_line["env2_in_acc"] <= 1.0
    fitted = json.loads((out / "dfr" / "dfr.json").read_text())
    assert fitted["held_out_splits"] == ["env0_out", "env1_out"]
    held_out = len(data.out_splits[0]) + len(data.out_splits[1])
    assert dfr_line["dfr_rows"] == {"env0_out": len(data.out_splits[0]), "env1_out": len(data.out_splits[1])}
    assert sorted(fitted["rows"]["tune_half"] + fitted["rows"]["tune_score"]) == list(range(held_out))
    card = (out / "README.md").read_text()
    assert "| last step, last layer retrained by DFR | 6 |" in card and "worst group |" in card
    assert "y=1,color_agrees=0" in card

    # Killed after stage 2's step-3 checkpoint: the rerun reads the error set, skips stage 1, resumes.
    stage1_time = os.path.getmtime(out / jtt.STAGE1_DIR / "model.safetensors")
    shutil.rmtree(out / "checkpoint-6")
    os.remove(out / "done")
    run_experiment(*parse_arguments(argv))
    assert os.path.getmtime(out / jtt.STAGE1_DIR / "model.safetensors") == stage1_time
    assert json.loads((out / jtt.ERROR_SET_FILE).read_text()) == saved
    resumed = [json.loads(line) for line in open(out / "results.jsonl")]
    assert [line["step"] for line in resumed] == [3, 6, 6] and resumed[-1]["dfr"]  # one DFR line, not two
    resumed.pop()
    assert resumed[-1]["env2_in_acc"] == lines[-1]["env2_in_acc"]
    assert resumed[-1]["env0_out_acc"] == lines[-1]["env0_out_acc"]
