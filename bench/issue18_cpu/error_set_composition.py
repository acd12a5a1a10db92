"""What JTT's error sets hold (the attributes JTT never reads): on ColoredMNIST, per run, the share of
colour-disagreeing and of label-flipped rows in the error set against the whole training set; on the text set of
``make_text_spurious.py``, the share of rows whose ``source`` disagrees with the label.

    python bench/issue18_cpu/error_set_composition.py RUNS_FOLDER MNIST_DATA_DIR
    python bench/issue18_cpu/error_set_composition.py RUNS_FOLDER hub:TEXT_FOLDER

RUNS_FOLDER holds the ``jtt_*`` runs of ``bench/issue18_cpu/run.sh`` (ColoredMNIST: 20,000 digits, test
environment 2); each run's error set indexes its training rows, rebuilt here with the run's trial seed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from hf_seedcat.data_scripts import load_domain_dataset


def error_set(run: Path, rows) -> np.ndarray:
    """The run's saved error set, checked against the rebuilt training rows it indexes."""
    saved = json.loads((run / "jtt_error_set.json").read_text())
    if saved["num_rows"] != len(rows):
        raise ValueError(f"{run}: the error set indexes {saved['num_rows']} rows, the rebuilt data has {len(rows)}.")
    return np.asarray(saved["rows"], dtype=np.int64)


def minority_shares(disagree: np.ndarray, errors: np.ndarray) -> dict[str, float]:
    """How much of the error set is minority (attribute disagreeing), against the training set, and how much of
    the minority it holds."""
    return {
        "error_set": len(errors),
        "training_rows": len(disagree),
        "disagree_in_errors": float(disagree[errors].mean()),
        "disagree_overall": float(disagree.mean()),
        "disagree_caught": float(disagree[errors].sum() / disagree.sum()),
    }


def composition(run: Path, data_dir: str) -> dict[str, float]:
    args = json.loads(open(run / "results.jsonl").readline())["args"]
    data = load_domain_dataset(
        "ColoredMNIST",
        data_dir=data_dir,
        trial_seed=args["trial_seed"],
        seed=args["seed"],
        max_digits=args["max_digits"],
        attribute_columns=["color_agrees", "label_flipped"],
    )
    rows = data.training_dataset(args["test_envs"], augment=False)
    errors = error_set(run, rows)
    flipped = np.asarray(rows["label_flipped"])
    shares = minority_shares(1 - np.asarray(rows["color_agrees"]), errors)
    caught = shares.pop("disagree_caught")  # printed last, as before
    flips = {"flipped_in_errors": float(flipped[errors].mean()), "flipped_overall": float(flipped.mean())}
    return {**shares, **flips, "disagree_caught": caught}


def text_composition(run: Path, dataset: str) -> dict[str, float]:
    """The text set's error set: its train split, in order, is the training set (split-based: nothing held out)."""
    rows = load_domain_dataset(dataset, attribute_columns=["source"]).training_dataset([], augment=False)
    rows = rows.with_format(None)
    disagree = (np.asarray(rows["labels"]) != np.asarray(rows["source"])).astype(float)
    return minority_shares(disagree, error_set(run, rows))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    for run in sorted(Path(argv[0]).glob("jtt_*")):
        found = text_composition(run, argv[1]) if argv[1].startswith("hub:") else composition(run, argv[1])
        print(run.name, json.dumps({k: round(v, 3) for k, v in found.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
