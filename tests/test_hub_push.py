"""``--push_to_hub`` against a local stand-in for the Hub's HTTP API (tests/hub_standin.py), through the real
``huggingface_hub`` client and its real requests: the repository is created, the run's folder arrives in one
commit with its model card, and ``load_model("me/seedcat-mnist")`` downloads the model back.

Two client paths, one run each: "inline", the client as installed (with ``hf_xet``, its streamed upload
pipeline), where the stand-in takes every file inline because it does not speak Xet; and "lfs", Xet off, where
the stand-in sends ``model.safetensors`` (and ``training_args.bin``) through the git-lfs batch API, as the Hub
does for weights."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import huggingface_hub
import pytest
import torch
from hub_standin import HubStandin, StoredFile, use_standin
from safetensors.torch import load_file

from hf_seedcat import load_model
from hf_seedcat.cli.train import parse_arguments
from hf_seedcat.data_scripts.demo_folders import make_image_folder
from hf_seedcat.experiment import run_experiment

REPO_ID = "me/seedcat-mnist"
RUN_FILES = {"README.md", "config.json", "model.safetensors", "results.jsonl"}


@pytest.mark.slow
@pytest.mark.parametrize("lfs", [False, True], ids=["inline", "lfs"])
def test_push_to_hub_commits_the_run_and_load_model_reads_it_back(lfs, tmp_path, monkeypatch):
    with HubStandin(lfs=lfs) as hub:
        use_standin(monkeypatch, hub, tmp_path / "hub-cache")
        run = run_small_push(tmp_path, REPO_ID)

        # the repository was created, then got one commit: the run folder's files, not its checkpoints
        assert list(hub.repos) == [REPO_ID]
        created, pushed = hub.repos[REPO_ID].commits
        assert created.summary == "initial commit" and pushed.summary == "hf_seedcat run"
        assert (run / "checkpoint-2").is_dir()
        assert set(pushed.changed) == {path.name for path in run.iterdir() if path.is_file()} >= RUN_FILES
        for path in RUN_FILES:
            assert pushed.files[path].content == (run / path).read_bytes(), path
        assert pushed.files["model.safetensors"].lfs == lfs
        assert (("PUT", "/lfs-upload/") in {(m, p[:12]) for m, p in hub.requests}) == lfs

        card = pushed.files["README.md"].content.decode()
        assert f'load_model("{REPO_ID}")' in card and "library_name: hf_seedcat" in card
        assert hub.validated_cards[-1] == card  # the Hub's metadata check saw the card that was committed

        # load_model downloads config.json and model.safetensors from the stand-in: the run's model again
        model = load_model(REPO_ID)
        local = load_model(str(run))
        assert not model.training and type(model) is type(local) and model.name_or_path == REPO_ID
        assert model.config.to_dict() | {"_name_or_path": ""} == local.config.to_dict() | {"_name_or_path": ""}
        saved = load_file(run / "model.safetensors")
        assert saved.keys() == model.state_dict().keys()
        assert all(torch.equal(saved[name], tensor) for name, tensor in model.state_dict().items())
        pixels = torch.randn(2, 3, 16, 16)
        with torch.no_grad():
            assert torch.equal(model(pixel_values=pixels).logits, local(pixel_values=pixels).logits)
        downloaded = {
            path.rsplit("/", 1)[-1] for method, path in hub.requests if method == "GET" and "/resolve/" in path
        }
        assert downloaded == {"config.json", "model.safetensors"}
        assert hub.unhandled == [] and hub.errors == []


def test_the_standin_refuses_what_the_hub_refuses(tmp_path, monkeypatch):
    """A push that passes against the stand-in means something only if the stand-in is strict."""
    with HubStandin(lfs=True) as hub:
        use_standin(monkeypatch, hub, tmp_path / "hub-cache")
        api = huggingface_hub.HfApi()
        with pytest.raises(huggingface_hub.errors.HfHubHTTPError, match="401"):
            api.create_repo(REPO_ID, token="hf_not_the_token")
        api.create_repo(REPO_ID)

        header = {"key": "header", "value": {"summary": "weights"}}
        pointer = {"path": "model.safetensors", "algo": "sha256", "oid": "0" * 64, "size": 3}
        inline = {"path": "model.safetensors", "content": "YWJj", "encoding": "base64"}
        for line in [{"key": "lfsFile", "value": pointer}, {"key": "file", "value": inline}]:
            body = b"".join(json.dumps(item).encode() + b"\n" for item in [header, line])
            url = f"{hub.url}/api/models/{REPO_ID}/commit/main"
            request = urllib.request.Request(url, body, {"Authorization": f"Bearer {hub.token}"}, method="POST")
            with pytest.raises(urllib.error.HTTPError, match="400"):
                urllib.request.urlopen(request)
        assert len(hub.repos[REPO_ID].commits) == 1

        api.upload_file(path_or_fileobj=b"abc", path_in_repo="model.safetensors", repo_id=REPO_ID)
        assert hub.repos[REPO_ID].files["model.safetensors"] == StoredFile(b"abc", lfs=True)
        assert open(huggingface_hub.hf_hub_download(REPO_ID, "model.safetensors"), "rb").read() == b"abc"
        with pytest.raises(huggingface_hub.errors.EntryNotFoundError):
            huggingface_hub.hf_hub_download(REPO_ID, "missing.json")
        assert hub.unhandled == [] and hub.errors == []


def run_small_push(tmp_path, repo_id):
    """A 2-step ERM run on a tiny image folder that pushes to ``repo_id``; returns its output folder."""
    data = make_image_folder(tmp_path / "data", ["a", "b", "c"], ["x", "y"], per_class=3, size=8)
    argv = ["--dataset", "ImageFolder", "--data_dir", str(data), "--backbone", "resnet18", "--image_size", "16"]
    argv += ["--algorithm", "erm", "--max_steps", "2", "--checkpoint_freq", "2", "--eval_splits", "selection"]
    argv += ["--per_device_train_batch_size", "4", "--disable_tqdm", "true", "--use_cpu"]
    argv += ["--output_dir", str(tmp_path / "run"), "--push_to_hub", "--hub_model_id", repo_id]
    run_experiment(*parse_arguments(argv))
    return tmp_path / "run"
