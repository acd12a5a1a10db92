"""The README's main job (ERM, then seed categories, on ColoredMNIST): a shim over ``seedcat-quickstart``
(``hf_seedcat/cli/quickstart.py``; ``--help``)."""

import sys

from hf_seedcat.cli.quickstart import main

if __name__ == "__main__":
    sys.exit(main())
