"""The README's compact table from ``seedcat-collect``'s ``worst_group.csv``: per arm, worst-group / average
test accuracy (mean ± SE over trials) at the step each of four selection rules picks (the rules the collected
runs have: a split-based dataset has no oracle).

    python bench/issue18_cpu/summary_table.py COLLECTED_FOLDER [ARM ...]

Read from the CSV, not copied by hand, so the README's numbers are the collected ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

RULES = {
    "val_worst_group": "validation worst-group (reads the attribute)",
    "training_domain": "validation average (DomainBed's training-domain rule)",
    "reference_errors": "label-free (early model's errors)",
    "oracle": "last step (DomainBed's oracle)",
}


def cell(rows: pd.DataFrame, metric: str, trials: int) -> str:
    """``mean ± SE``, with ``(n=k)`` where fewer than the sweep's ``trials`` selected a step."""
    row = rows[rows["metric"] == metric]
    if row.empty or pd.isna(row["mean"].iloc[0]):
        return "—"
    mean, stderr, n = row["mean"].iloc[0], row["stderr"].iloc[0], int(row["trials"].iloc[0])
    spread = f" ± {stderr:.1f}" if not pd.isna(stderr) else ""
    return f"{mean:.1f}{spread}" + ("" if n == trials else f" (n={n})")


def table(folder: Path, arms: list[str]) -> str:
    frame = pd.read_csv(folder / "worst_group.csv")
    frame = frame[frame["trials"] > 0]
    arms = arms or sorted(frame["algorithm"].unique())
    trials = int(frame["trials"].max())
    rules = [rule for rule in RULES if rule in set(frame["selection"])]  # a split-based set has no oracle
    lines = ["| arm | " + " | ".join(RULES[rule] for rule in rules) + " |", "| --- |" + " --- |" * len(rules)]
    for arm in arms:
        cells = []
        for rule in rules:
            rows = frame[(frame["algorithm"] == arm) & (frame["selection"] == rule)]
            cells.append(f"{cell(rows, 'worst_group', trials)} / {cell(rows, 'average', trials)}")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    print(table(Path(argv[0]), argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
