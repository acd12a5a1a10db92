"""Tables of a sweep: ``python scripts/collect_results.py --input_dir DIR [--output_dir OUT]``.

For every dataset and selection method (training-domain, leave-one-domain-out, oracle): algorithms x
test environments, mean ± standard error over trials, printed as Markdown and written to OUT (default
DIR) as ``results.md``, ``results.csv``, ``results.tex`` and ``<dataset>.png``. Unfinished and broken
runs are counted and listed.
"""

import os
import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from hf_seedcat.evaluation import build_tables, load_sweep, plot_tables, tables_as_csv


@dataclass
class CollectArguments:
    input_dir: str = field(metadata={"help": "A sweep's folder (searched recursively for results.jsonl)."})
    output_dir: str | None = field(default=None, metadata={"help": "Where to write the tables; default: input_dir."})
    algorithms: list[str] | None = field(default=None, metadata={"help": "Row order; default: alphabetical."})
    allow_mixed_versions: bool = field(
        default=False,
        metadata={"help": "Make tables even when the runs come from different code versions (flagged in them)."},
    )


def main(argv: list[str]) -> int:
    (args,) = HfArgumentParser(CollectArguments).parse_args_into_dataclasses(args=argv)
    out = args.output_dir or args.input_dir
    sweep = load_sweep(args.input_dir)
    print(sweep.report() + "\n")
    if sweep.mixed_versions and not args.allow_mixed_versions:
        print(
            "error: the finished runs come from different code versions (listed above), and a mean over "
            "trials would pool them. Rerun the runs of the older versions, or pass --allow_mixed_versions "
            "to make tables that say so."
        )
        return 2
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
