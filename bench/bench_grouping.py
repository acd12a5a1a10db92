"""Time and peak memory of every grouper at 10k / 100k / 1M samples and 128 / 2048 features.

    python bench/bench_grouping.py [--sizes 10000 100000 1000000] [--dims 128 2048] [--max_feature_gb 2]

Each measurement runs in a fresh child process: the table reports the wall time of the grouper call
alone and the peak memory allocated during it on top of the inputs (``tracemalloc``, which sees Python
and NumPy allocations, where scikit-learn and the groupers do their work; torch's allocations are not
traced, so ``loss_rank``, which sorts in torch, shows about 0). The inputs are synthetic: 4
units (domains) of equal size, features drawn around 16 centres per unit (so k-means has structure to
find), losses exponential. Configurations whose feature matrix alone exceeds ``--max_feature_gb`` are
skipped (1M x 2048 float32 is 8 GB), and a measurement that runs past ``--timeout`` seconds is reported
as such.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tracemalloc

GROUPERS = ("loss_rank", "kmeans", "seed_set")
GOALS = {  # the targets: (grouper, samples, features) -> seconds
    ("loss_rank", 1_000_000, None): 1.0,
    ("kmeans", 1_000_000, 128): 60.0,
    ("seed_set", 100_000, 128): 60.0,
}


def measure(grouper_name: str, n: int, dim: int, units: int = 4, groups_per_unit: int = 4) -> dict:
    """Build the inputs, then time one call of the grouper; runs in the child process."""
    import numpy as np
    import torch

    from hf_seedcat.grouping import GroupingInputs, create_grouper

    rng = np.random.default_rng(0)
    unit_ids = torch.arange(n) % units
    inputs = {"units": unit_ids, "num_units": units}
    if grouper_name == "loss_rank":
        inputs["losses"] = torch.from_numpy(rng.exponential(size=n).astype(np.float32))
    else:
        centres = rng.standard_normal((units, 16, dim), dtype=np.float32) * 3
        features = centres[unit_ids.numpy(), rng.integers(0, 16, n)]
        features += rng.standard_normal((n, dim), dtype=np.float32)
        inputs["features"] = torch.from_numpy(features)
    grouper = create_grouper(grouper_name, groups_per_unit=groups_per_unit)
    tracemalloc.start()
    start = time.perf_counter()
    groups = grouper(GroupingInputs(**inputs))
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(groups) == n and int(groups.max()) < units * groups_per_unit
    return {"seconds": seconds, "peak_mb": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groupers", nargs="+", default=list(GROUPERS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dims", nargs="+", type=int, default=[128, 2048])
    parser.add_argument("--max_feature_gb", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--child", nargs=3, metavar=("GROUPER", "N", "DIM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), int(args.child[2]))))
        return

    print("| grouper | samples | features | time (s) | peak allocated (MB) | goal |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.groupers:
        for n in args.sizes:
            for dim in [None] if name == "loss_rank" else args.dims:
                goal = GOALS.get((name, n, dim))
                goal_text = f"< {goal:g} s" if goal else ""
                cells = [name, f"{n:,}", "—" if dim is None else str(dim)]
                if dim is not None and n * dim * 4 / 2**30 > args.max_feature_gb:
                    print("| " + " | ".join(cells + ["skipped: features over --max_feature_gb", "", goal_text]) + " |")
                    continue
                command = [sys.executable, __file__, "--child", name, str(n), str(dim or 1)]
                try:
                    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
                except subprocess.TimeoutExpired:
                    print("| " + " | ".join(cells + [f"over {args.timeout:g}", "", goal_text]) + " |", flush=True)
                    continue
                if done.returncode != 0:
                    error = done.stderr.strip().splitlines()[-1]
                    print("| " + " | ".join(cells + [f"failed: {error}", "", goal_text]) + " |")
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                verdict = "" if not goal else (" (met)" if result["seconds"] < goal else " (missed)")
                row = cells + [f"{result['seconds']:.2f}", f"{result['peak_mb']:.0f}", goal_text + verdict]
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
