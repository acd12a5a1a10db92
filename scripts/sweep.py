"""Run a sweep: a shim over ``seedcat-sweep`` (``hf_seedcat/cli/sweep.py``; ``--help``)."""

import sys

from hf_seedcat.cli.sweep import main

if __name__ == "__main__":
    sys.exit(main())
