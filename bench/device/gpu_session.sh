#!/usr/bin/env bash
# The one command for the GPU machine (its python3 has torch, transformers, timm, accelerate, scikit-learn and
# pytest-xdist, not datasets/evaluate, and no network). Run `bash bench/device/prepare.sh` here first, then
# call the device tool with carry [".device"] and the command `bash bench/device/gpu_session.sh [ARGS]`;
# ARGS go to gpu_session.py (--part main | study | extra; --resume continues on a machine still warm from the
# call before). Issue 20's study: bench/results/device-rehearsal/README.md. On a CPU: `... --rehearse`.
set -uo pipefail
export SEEDCAT_SESSION_START=${SEEDCAT_SESSION_START:-$(date +%s)}  # --budget_s counts from here
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/seedcat_out}
if [ ! -f .device/CODE_VERSION ]; then
    echo "error: no .device folder: run bash bench/device/prepare.sh first and carry .device." >&2
    exit 2
fi
PYTHON=${PYTHON:-python3}
SITE=/tmp/seedcat_site
wheels=.device/wheels
if ! "$PYTHON" -c 'import sys, pyarrow; sys.exit(int(pyarrow.__version__.split(".")[0]) < 24)' 2>/dev/null; then
    echo "pyarrow older than 24 here: installing datasets 4.4.1 instead of 5.2.0"
    mkdir -p /tmp/seedcat_wheels && cp .device/wheels/*.whl /tmp/seedcat_wheels/
    rm /tmp/seedcat_wheels/{datasets,dill,multiprocess,fsspec}-*.whl
    cp .device/wheels-old-pyarrow/*.whl /tmp/seedcat_wheels/
    wheels=/tmp/seedcat_wheels
fi
if ! "$PYTHON" -c 'import datasets, evaluate' 2>/dev/null; then  # the GPU image lacks them; a dev venv has them
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        "$wheels"/*.whl || { echo "error: installing the carried wheels failed" >&2; exit 1; }
    export PYTHONPATH="$SITE"
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
export HF_SEEDCAT_MNIST_DIR="$PWD/.device/mnist" HF_SEEDCAT_CODE_VERSION="$(cat .device/CODE_VERSION)"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_DATASETS_CACHE=/tmp/seedcat_hf_cache MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
# Many small training processes share one GPU: NVIDIA's MPS lets their kernels run side by side instead of
# time-slicing the device between them. Kept only if a CUDA client then works; otherwise plain sharing.
if [ -z "${NO_MPS:-}" ] && command -v nvidia-cuda-mps-control >/dev/null 2>&1; then
    export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps_pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps_log
    mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
    # A call before on the same (warm) machine leaves its daemon running (it outlives the call): use that one.
    if { nvidia-cuda-mps-control -d 2>/dev/null || pgrep -x nvidia-cuda-mps-control >/dev/null; } \
        && timeout 60 "$PYTHON" -c 'import torch; torch.ones(1).cuda().sum().item()'; then
        echo "MPS: on"
    else
        echo quit | nvidia-cuda-mps-control 2>/dev/null; sleep 1
        unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
        echo "MPS: not available, plain time-slicing"
    fi
fi
exec "$PYTHON" bench/device/gpu_session.py --out "$OUT" "$@"
