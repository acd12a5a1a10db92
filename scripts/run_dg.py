"""Train one domain-generalisation run: ``python scripts/run_dg.py`` or ``accelerate launch scripts/run_dg.py``.

A shim over ``seedcat-train`` (``hf_seedcat/cli/train.py``), kept so launchers that take a script path work.
"""

import sys

from hf_seedcat.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
