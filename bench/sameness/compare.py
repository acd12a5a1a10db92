"""Compare two sets of runs of ``run_arms.sh`` (before and after a refactor) value by value.

    python bench/sameness/compare.py BEFORE_DIR AFTER_DIR [--markdown OUT.md]

For every arm: every ``env*_acc`` of every ``results.jsonl`` line, every logged ``q/<group>`` in the final
``trainer_state.json``, and the last checkpoint's ``seedcat_state_0.json`` (groups, q, last regroup). Exits 1
on the first difference; prints a table of what was compared.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

ARMS = ("seedcat", "regroup_start100", "killed150")


def accuracies(run: str) -> list[tuple[int, str, float]]:
    with open(os.path.join(run, "results.jsonl"), encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
    return [
        (line["step"], key, value) for line in lines for key, value in sorted(line.items()) if key.endswith("_acc")
    ]


def logged_q(run: str) -> list[tuple[int, str, float]]:
    with open(os.path.join(run, "trainer_state.json"), encoding="utf-8") as handle:
        history = json.load(handle)["log_history"]
    return [(entry["step"], key, value) for entry in history for key, value in entry.items() if key.startswith("q/")]


def final_state(run: str) -> dict:
    last = max(glob.glob(os.path.join(run, "checkpoint-*")), key=lambda path: int(path.rsplit("-", 1)[1]))
    with open(os.path.join(last, "seedcat_state_0.json"), encoding="utf-8") as handle:
        state = json.load(handle)
    return {"checkpoint": os.path.basename(last), **state}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args()
    rows = [
        "| arm | results.jsonl accuracies | logged q values | final seedcat_state_0.json | identical |",
        "|---" * 5 + "|",
    ]
    same_everywhere = True
    for arm in ARMS:
        before, after = os.path.join(args.before, arm), os.path.join(args.after, arm)
        acc_b, acc_a = accuracies(before), accuracies(after)
        q_b, q_a = logged_q(before), logged_q(after)
        state_b, state_a = final_state(before), final_state(after)
        same = acc_b == acc_a and q_b == q_a and state_b == state_a
        same_everywhere &= same
        steps = sorted({step for step, _, _ in acc_b})
        rows.append(
            f"| {arm} | {len(acc_b)} values at steps {steps[0]}-{steps[-1]} (last: "
            f"{', '.join(f'{k} {v:.4f}' for s, k, v in acc_b if s == steps[-1])}) | {len(q_b)} values | "
            f"{state_b['checkpoint']}, {len(state_b['group_ids'])} group ids, q = "
            f"[{', '.join(f'{v:.6f}' for v in state_b['q'])}], last regroup {state_b['last_regroup_step']} | "
            f"{'yes' if same else 'NO'} |"
        )
        if not same:
            for name, b, a in (("accuracy", acc_b, acc_a), ("q", q_b, q_a)):
                diff = next(((x, y) for x, y in zip(b, a, strict=False) if x != y), None)
                if diff or len(b) != len(a):
                    print(f"{arm}: first {name} difference: {diff} (counts {len(b)} vs {len(a)})")
            if state_b != state_a:
                print(f"{arm}: final states differ in {[k for k in state_b if state_b[k] != state_a.get(k)]}")
    table = "\n".join(rows)
    print(table)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as handle:
            handle.write(table + "\n")
    return 0 if same_everywhere else 1


if __name__ == "__main__":
    sys.exit(main())
