"""Tables of a sweep: a shim over ``seedcat-collect`` (``hf_seedcat/cli/collect.py``; ``--help``)."""

import sys

from hf_seedcat.cli.collect import main

if __name__ == "__main__":
    sys.exit(main())
