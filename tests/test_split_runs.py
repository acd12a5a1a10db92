"""A split-based dataset end to end (train / validation / test, no domain column): JTT and DFR train, select on
validation and report worst-group accuracy on test; no test row reaches training, DFR or selection."""

from __future__ import annotations

import json

import datasets
import pytest
from helpers import save_tiny_text_model

from hf_seedcat.cli.train import parse_arguments
from hf_seedcat.experiment import run_experiment

WORDS = ["good", "great", "lovely", "bad", "awful", "poor", "film", "flight", "the", "was", "not"]


def _write_reviews(folder, flip_test: bool = False):
    """CSV splits in a Hub layout: a sentence, a label, and ``negated`` (the sentence has "not"): negation
    agrees with the negative label in train, not in validation and test. ``flip_test`` makes every test
    label 1 and changes every test sentence."""
    folder.mkdir(parents=True)
    sizes = {"train": 48, "validation": 24, "test": 24}
    for split, n in sizes.items():
        rows = {"text": [], "label": [], "negated": []}
        for i in range(n):
            label = i % 2
            negated = int(label == 0) if split == "train" and i % 6 else int(i % 4 < 2)
            word = ["bad", "good"][label] if i % 3 else ["awful", "great"][label]
            if split == "test" and flip_test:
                label, word = 1, "poor"
            rows["text"].append(f"the film was {'not ' if negated else ''}{word}")
            rows["label"].append(label)
            rows["negated"].append(negated)
        datasets.Dataset.from_dict(rows).to_csv(str(folder / f"{split}.csv"))
    return folder


def _run(tmp_path, name: str, flip_test: bool = False):
    data = _write_reviews(tmp_path / f"{name}_data", flip_test)
    model = (
        save_tiny_text_model(tmp_path / "model", WORDS) if not (tmp_path / "model").exists() else tmp_path / "model"
    )
    out = tmp_path / name
    argv = ["--dataset", f"hub:{data}", "--model_name_or_path", str(model), "--algorithm", "jtt"]
    argv += ["--jtt_stage1_steps", "4", "--max_steps", "8", "--checkpoint_freq", "2", "--reference_step", "2"]
    argv += ["--attribute_columns", "negated", "--dfr", "--per_device_train_batch_size", "8"]
    argv += ["--learning_rate", "1e-2", "--disable_tqdm", "true", "--use_cpu", "--output_dir", str(out)]
    summary = run_experiment(*parse_arguments(argv))
    lines = [json.loads(line) for line in open(out / "results.jsonl")]
    return out, summary, lines


@pytest.mark.slow
def test_a_split_based_dataset_selects_on_validation_and_never_reads_its_test_rows(tmp_path):
    out, summary, lines = _run(tmp_path, "run")
    first = lines[0]
    assert first["args"]["split_based"] and first["args"]["test_envs"] == []
    assert first["args"]["provenance"]["rows_checksum"]
    for key in ("validation_acc", "validation_worst_group_acc", "validation_worst_class_acc", "test_acc"):
        assert key in first, key
    assert 0.0 <= first["test_worst_group_acc"] <= first["test_acc"] <= 1.0
    assert not any(key.startswith("env") for key in first)
    assert lines[-1]["dfr"] and lines[-1]["args"]["algorithm"] == "jtt+dfr"
    assert json.loads((out / "dfr" / "dfr.json").read_text())["held_out_splits"] == ["validation"]
    assert summary["selection"] == "val_worst_group"
    best = max(line["validation_worst_group_acc"] for line in lines[:-1])
    assert summary["selected"]["validation_worst_group_acc"] == best
    card = (out / "README.md").read_text()
    assert "validation worst-group" in card and "| test: checkpoint |" in card and "rows checksum" in card

    # The same run with every test label and sentence changed: training, the error set, DFR, the label-free
    # rule and the selection are the same; only the test numbers move.
    flipped_out, flipped_summary, flipped = _run(tmp_path, "flipped", flip_test=True)

    def without_test(line):
        kept = {k: v for k, v in line.items() if not k.startswith("test_") and k not in ("args", "step_time")}
        kept.pop("mem_gb", None)
        return kept

    assert [without_test(line) for line in flipped] == [without_test(line) for line in lines]
    assert [line["test_acc"] for line in flipped] != [line["test_acc"] for line in lines]
    for name in ("jtt_error_set.json", "reference_rows.json"):
        assert (flipped_out / name).read_text() == (out / name).read_text()
    fitted = json.loads((out / "dfr" / "dfr.json").read_text())
    assert json.loads((flipped_out / "dfr" / "dfr.json").read_text()) == fitted
    assert flipped_summary["selected"]["step"] == summary["selected"]["step"]
