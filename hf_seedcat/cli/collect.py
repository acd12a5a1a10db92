"""``seedcat-collect``: the tables of a sweep (``scripts/collect_results.py``).

For every dataset of domains and selection method (``evaluation.SELECTION_METHODS``): algorithms x test
environments, mean ± standard error over trials, printed as Markdown and written to OUT (default DIR) as
``results.md``, ``results.csv``, ``results.tex`` and ``<dataset>.png``. Beside them, per dataset, the
worst-group table (``evaluation/worst_group.py``): every rule's selected step's worst-group and average test
accuracy, per test environment or, for a dataset that comes as train / validation / test splits, on its test
split; in ``results.md`` and ``worst_group.csv``. And the window (``evaluation/swing.py``): test accuracy over
every evaluation after ``--window_after_step``, since one selected step can hide a swing of 20 points; in
``results.md`` and ``swing.csv``. Unfinished and broken runs are counted and listed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..evaluation import (
    STANDARD_ERROR_CONVENTION,
    SWING_WINDOW_AFTER_STEP,
    build_swing_tables,
    build_tables,
    build_worst_group_tables,
    check_rules,
    load_sweep,
    plot_tables,
    rule_check_markdown,
    swing_as_csv,
    tables_as_csv,
    worst_group_as_csv,
)
from .console import ArgumentParser, run_command


@dataclass
class CollectArguments:
    input_dir: str = field(metadata={"help": "A sweep's folder (searched recursively for results.jsonl)."})
    output_dir: str | None = field(default=None, metadata={"help": "Where to write the tables; default: input_dir."})
    algorithms: list[str] | None = field(default=None, metadata={"help": "Row order; default: alphabetical."})
    allow_mixed_versions: bool = field(
        default=False,
        metadata={"help": "Make tables even when the runs come from different code versions (flagged in them)."},
    )
    window_after_step: int = field(
        default=SWING_WINDOW_AFTER_STEP,
        metadata={
            "help": "The window table reads every evaluation at steps > this, the same for every algorithm "
            f"(default {SWING_WINDOW_AFTER_STEP}: seedcat's first regroup from a trained model in DomainBed's "
            "5000-step runs; for 1000-step runs, 200)."
        },
    )


def collect(argv: list[str]) -> int:
    parser = ArgumentParser(CollectArguments, prog="seedcat-collect", description=__doc__.split("\n\n")[0])
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    if args.window_after_step < 0:
        raise ValueError(f"--window_after_step must be 0 or more, not {args.window_after_step}.")
    if not os.path.isdir(args.input_dir):
        raise NotADirectoryError(f"--input_dir {args.input_dir} is not a folder; pass a sweep's output folder.")
    out = args.output_dir or args.input_dir
    sweep = load_sweep(args.input_dir)
    print(sweep.report() + "\n")
    if sweep.mixed_versions and not args.allow_mixed_versions:
        raise ValueError(
            "the finished runs come from different code versions (listed above), and a mean over trials would "
            "pool them. Rerun the runs of the older versions, or pass --allow_mixed_versions to make tables "
            "that say so."
        )
    tables = build_tables(sweep.records, args.algorithms)  # datasets of domains only
    worst_group = build_worst_group_tables(sweep.records, args.algorithms)  # every dataset
    if not worst_group:
        print(f"No finished runs under {args.input_dir}.")
        return 1
    windows = {
        table.dataset: table for table in build_swing_tables(sweep.records, args.algorithms, args.window_after_step)
    }
    sections = []
    for dataset in sorted({table.dataset for table in worst_group}):
        sections += [table.markdown() for table in tables if table.dataset == dataset]
        sections += [table.markdown() for table in worst_group if table.dataset == dataset]
        if dataset in windows:
            sections += [windows[dataset].markdown(), windows[dataset].per_trial_markdown()]
        rule_check = rule_check_markdown(check_rules([r for r in sweep.records if r["args"]["dataset"] == dataset]))
        if rule_check:
            sections.append(rule_check)
    markdown = "\n\n".join(sections)
    print(markdown)
    os.makedirs(out, exist_ok=True)
    note = (
        f"Test accuracy (%), mean ± standard error over trials (n = trials): {STANDARD_ERROR_CONVENTION}.\n\n"
        + sweep.report()
        + "\n"
    )
    files = {"results.md": note + "\n" + markdown + "\n", "results.csv": tables_as_csv(tables)}
    files["results.tex"] = "\n\n".join(table.latex() for table in tables) + "\n"
    files["swing.csv"] = swing_as_csv(list(windows.values()))
    files["worst_group.csv"] = worst_group_as_csv(worst_group)
    for name, text in files.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    for dataset in sorted({table.dataset for table in tables}):
        plot_tables([table for table in tables if table.dataset == dataset], os.path.join(out, f"{dataset}.png"))
    print(
        f"\nWrote results.md, results.csv, results.tex, swing.csv, worst_group.csv and one PNG per dataset of "
        f"domains to {out}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(collect, argv)


if __name__ == "__main__":
    sys.exit(main())
