"""A split-based sentiment set with a known spurious attribute, built from ``../shared/data/text-dev``.

Rows come from two sources that differ in style and length: blog sentences (11 words on average) and IMDb
reviews (232). In ``train`` the source agrees with the label in 90% of rows (positive reviews mostly from
IMDb, negative ones mostly from blogs), so "long review -> positive" is a shortcut; in ``validation`` and
``test`` the four groups (label x source) are equal, so worst-group accuracy shows who took the shortcut.
The attribute column is ``source`` (0 blog, 1 imdb), the label ``label`` (1 positive).

Sizes: train 1200 (540 / 60 / 540 / 60 for positive-imdb, positive-blog, negative-blog, negative-imdb),
validation 240 and test 600 (60 and 150 per group); rows drawn without replacement with a fixed seed, so
the folder is the same on every machine. Run:

    python bench/issue18_cpu/make_text_spurious.py ../shared/data/text-dev OUT_FOLDER

then ``seedcat-train --dataset hub:OUT_FOLDER --attribute_columns source ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

SEED = 0
PER_GROUP = {"train": {"majority": 540, "minority": 60}, "validation": {"majority": 60, "minority": 60}}
PER_GROUP["test"] = {"majority": 150, "minority": 150}


def build(source_dir: Path) -> dict[str, pd.DataFrame]:
    frames = {}
    for source, name in ((0, "blog"), (1, "imdb")):
        frame = pd.read_csv(source_dir / f"{name}.csv", encoding="utf-8", encoding_errors="replace")
        frames[source] = frame.rename(columns={"reviews": "text", "labels": "label"}).assign(source=source)
    pools = {
        (label, source): frames[source][frames[source]["label"] == label].sample(frac=1.0, random_state=SEED)
        for label in (0, 1)
        for source in (0, 1)
    }
    taken = dict.fromkeys(pools, 0)
    splits = {}
    for split, sizes in PER_GROUP.items():
        parts = []
        for (label, source), pool in pools.items():
            majority = label == source  # positive-imdb and negative-blog agree with the shortcut
            n = sizes["majority" if majority else "minority"]
            if taken[label, source] + n > len(pool):
                raise ValueError(f"text-dev has too few rows for label {label}, source {source}.")
            parts.append(pool.iloc[taken[label, source] : taken[label, source] + n])
            taken[label, source] += n
        splits[split] = pd.concat(parts).sample(frac=1.0, random_state=SEED)[["text", "label", "source"]]
    return splits


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for split, frame in build(Path(argv[0])).items():
        path, text = out / f"{split}.csv", frame.to_csv(index=False).encode()
        if not path.exists() or path.read_bytes() != text:  # the same rows leave the file (and its time) alone
            path.write_bytes(text)
        agree = (frame["label"] == frame["source"]).mean()
        print(f"{split}: {len(frame)} rows, source agrees with the label in {agree:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
