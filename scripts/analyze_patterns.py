"""Is there pattern imbalance in my data? A shim over ``seedcat-patterns`` (``hf_seedcat/cli/patterns.py``)."""

import sys

from hf_seedcat.cli.patterns import main

if __name__ == "__main__":
    sys.exit(main())
