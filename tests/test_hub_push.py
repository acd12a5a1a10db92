"""The local stand-in for the Hub's HTTP API (tests/hub_standin.py), through the real ``huggingface_hub``
client: it refuses what the Hub refuses."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import huggingface_hub
import pytest
from hub_standin import HubStandin, StoredFile, use_standin

REPO_ID = "me/seedcat-mnist"


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
