"""``seedcat-collect``: the tables of a sweep (``scripts/collect_results.py``).

For every dataset and selection method (training-domain, leave-one-domain-out, oracle): algorithms x
test environments, mean ± standard error over trials, printed as Markdown and written to OUT (default
DIR) as ``results.md``, ``results.csv``, ``results.tex`` and ``<dataset>.png``. Unfinished and broken
runs are counted and listed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..evaluation import build_tables, load_sweep, plot_tables, tables_as_csv
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


def collect(argv: list[str]) -> int:
    parser = ArgumentParser(CollectArguments, prog="seedcat-collect", description=__doc__.split("\n\n")[0])
    (args,) = parser.parse_args_into_dataclasses(args=argv)
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
    tables = build_tables(sweep.records, args.algorithms)
    if not tables:
        print(f"No finished runs under {args.input_dir}.")
        return 1
    markdown = "\n\n".join(table.markdown() for table in tables)
    print(markdown)
    os.makedirs(out, exist_ok=True)
    note = "Test accuracy (%), mean ± standard error over trials (n = trials).\n\n" + sweep.report() + "\n"
    files = {"results.md": note + "\n" + markdown + "\n", "results.csv": tables_as_csv(tables)}
    files["results.tex"] = "\n\n".join(table.latex() for table in tables) + "\n"
    for name, text in files.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    for dataset in sorted({table.dataset for table in tables}):
        plot_tables([table for table in tables if table.dataset == dataset], os.path.join(out, f"{dataset}.png"))
    print(f"\nWrote results.md, results.csv, results.tex and one PNG per dataset to {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(collect, argv)


if __name__ == "__main__":
    sys.exit(main())
