"""A local stand-in for the Hugging Face Hub's HTTP API, so a test can push to "the Hub" and read back what
arrived, through the real ``huggingface_hub`` client and its real requests, with no network.

``HubStandin`` runs a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (a free port) in a thread and keeps model
repositories in memory: every commit's full file tree, so a repository can be read at ``main`` or at any commit.
Point the client at it with ``use_standin(monkeypatch, standin, tmp_path)``.

What it implements (model repositories only; the routes ``huggingface_hub`` calls for a push and a download):

- ``POST /api/repos/create``: creates ``{organization}/{name}`` with the Hub's initial commit (a ``.gitattributes``);
  409 when it exists (``exist_ok`` reads that).
- ``POST /api/models/{repo}/preupload/{rev}``: the server decides each file's upload mode, as the Hub does.
  By default every file is "regular" (inlined, base64, in the commit): ``huggingface_hub`` sends every "lfs"
  file through Xet when ``hf_xet`` is installed, and the stand-in does not speak Xet. With ``lfs=True`` it
  answers "lfs" for the file names the Hub's default ``.gitattributes`` tracks (``*.safetensors``, ``*.bin``,
  ...) and for files over 10 MiB, as the Hub does; the client must then have Xet disabled so it uses the LFS
  batch API below. The answer carries the remote oid of an unchanged file, so the client skips it.
- ``POST /{repo}.git/info/lfs/objects/batch`` (git-lfs batch API, "basic" transfer): an upload action per object
  not yet stored, none for one already stored; ``PUT /lfs-upload/{oid}`` (a signed URL, as the Hub's presigned
  storage URLs: no token) stores the bytes after checking their sha256 and size.
- ``POST /api/models/{repo}/commit/{rev}``: the NDJSON commit (header, ``file`` inline base64, ``lfsFile``
  pointers to uploaded objects, ``deletedFile``/``deletedFolder``); it refuses an ``lfsFile`` whose object was
  never uploaded, and an inline file the preupload answer sent to LFS, as the Hub would.
- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``: repository info (sha, siblings).
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: file downloads, with the headers ``hf_hub_download`` checks
  (``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag``/``X-Linked-Size`` for LFS files, ``X-Error-Code`` on a 404).
- ``POST /api/validate-yaml``: the model card's metadata (``upload_folder`` sends ``README.md`` first): a YAML
  mapping between ``---`` lines, ``library_name``/``pipeline_tag`` strings, ``tags``/``datasets``/``metrics``
  lists of strings; a 400 with the errors otherwise. A subset of the Hub's checks; the cards are kept in
  ``validated_cards``.
- ``GET /api/whoami-v2``: the dummy user; ``GET /api/agent-harnesses``: an empty registry (the client asks for it
  to fill its user-agent header).

Writes need ``Authorization: Bearer {token}`` (LFS uploads: the signed URL). Every request is recorded in
``requests``; one no route matched is answered 404 and also recorded in ``unhandled``, so a test can see what the
client asked for that is missing; one the stand-in fails on is answered 500 and recorded in ``errors``.

What it does not implement: Xet storage, LFS multipart transfers and the verify step, branches other than
``main`` (a revision is ``main`` or a commit oid), pull requests, ``parentCommit`` checks, datasets and Spaces,
private or gated repositories, pagination, tree listings, and the Hub's 10 MiB limit on inline files.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

TOKEN = "hf_standin_token"
USER = "me"
# The patterns of the Hub's default .gitattributes that matter for model repositories, and its size threshold.
LFS_PATTERNS = ["*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.onnx", "*.msgpack", "*.model"]
LFS_THRESHOLD = 10 * 1024 * 1024
REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"


@dataclass
class StoredFile:
    """A file of a commit: its bytes and whether it was committed as an LFS pointer."""

    content: bytes
    lfs: bool

    @property
    def git_oid(self) -> str:
        """The git blob sha1, the oid the Hub gives a regular file."""
        return hashlib.sha1(b"blob %d\0" % len(self.content) + self.content).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class Commit:
    oid: str
    summary: str
    description: str
    files: dict[str, StoredFile]  # the whole tree after the commit
    changed: list[str]  # the paths this commit added, replaced or deleted


@dataclass
class Repo:
    repo_id: str
    private: bool | None = None
    commits: list[Commit] = field(default_factory=list)

    @property
    def files(self) -> dict[str, StoredFile]:
        """The tree at ``main``."""
        return self.commits[-1].files

    def tree(self, revision: str) -> Commit | None:
        if revision == "main":
            return self.commits[-1]
        return next((commit for commit in self.commits if commit.oid == revision), None)


class HubStandin:
    """The stand-in server; use it as a context manager (``with HubStandin() as hub: ...``)."""

    def __init__(self, lfs: bool = False, token: str = TOKEN) -> None:
        self.lfs = lfs
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> bytes, uploaded through the LFS batch API
        self.validated_cards: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.unhandled: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="hub-standin", daemon=True)

    def __enter__(self) -> HubStandin:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def upload_mode(self, path: str, size: int) -> str:
        if self.lfs and (size > LFS_THRESHOLD or any(fnmatch.fnmatch(Path(path).name, p) for p in LFS_PATTERNS)):
            return "lfs"
        return "regular"

    # ------------------------------------------------------------------------------------------- routes

    def create_repo(self, request: _Request) -> _Response:
        body = request.json()
        repo_id = f"{body.get('organization') or USER}/{body['name']}"
        if body.get("type", "model") != "model":
            return _error(400, f"the stand-in keeps model repositories only, not {body['type']}")
        if repo_id in self.repos:
            return _error(409, "You already created this model repo")
        repo = self.repos[repo_id] = Repo(repo_id, private=body.get("private"))
        # the Hub's first commit: a .gitattributes sending the usual weight files to LFS
        attributes = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS)
        files = {".gitattributes": StoredFile(attributes.encode(), lfs=False)}
        repo.commits.append(Commit(hashlib.sha1(repo_id.encode()).hexdigest(), "initial commit", "", files, [*files]))
        return _json({"url": f"{self.url}/{repo_id}", "name": repo_id, "id": repo_id})

    def validate_yaml(self, request: _Request) -> _Response:
        content = request.json()["content"]
        self.validated_cards.append(content)
        match = re.match(r"---\n(.*?)\n---\n", content, re.DOTALL)
        metadata = yaml.safe_load(match[1]) if match else None
        if not isinstance(metadata, dict):
            return _json({"errors": [{"message": "the card has no YAML metadata mapping between --- lines"}]}, 400)
        errors = [
            f'"{key}" must be a string'
            for key in ("library_name", "pipeline_tag")
            if key in metadata and not isinstance(metadata[key], str)
        ]
        for key in ("tags", "datasets", "metrics"):
            value = metadata.get(key, [])
            if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
                errors.append(f'"{key}" must be a list of strings')
        if errors:
            return _json({"errors": [{"message": message} for message in errors]}, 400)
        return _json({"errors": [], "warnings": []})

    def preupload(self, request: _Request, repo: Repo, revision: str) -> _Response:
        tree = repo.tree(revision)
        if tree is None:
            return _error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        answers = []
        for file in request.json()["files"]:
            mode = self.upload_mode(file["path"], file["size"])
            stored = tree.files.get(file["path"])
            oid = None if stored is None else stored.sha256 if mode == "lfs" else stored.git_oid
            answers.append({"path": file["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return _json({"files": answers, "commitOid": tree.oid})

    def lfs_batch(self, request: _Request, repo: Repo) -> _Response:
        body = request.json()
        if body.get("operation") != "upload" or "basic" not in body.get("transfers", ["basic"]):
            return _error(400, "the stand-in serves LFS uploads through the basic transfer only")
        objects = []
        for item in body["objects"]:
            answer = {"oid": item["oid"], "size": item["size"], "authenticated": True}
            if item["oid"] not in self.lfs_objects:
                href = f"{self.url}/lfs-upload/{item['oid']}?size={item['size']}&signature={self.sign(item['oid'])}"
                answer["actions"] = {"upload": {"href": href, "header": {}}}
            objects.append(answer)
        return _json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def sign(self, oid: str) -> str:
        """The upload URL's signature: like the Hub's presigned storage URLs, it is the only credential a PUT
        carries."""
        return hashlib.sha256(f"{self.token}:{oid}".encode()).hexdigest()

    def lfs_upload(self, request: _Request, oid: str) -> _Response:
        if request.query.get("signature") != self.sign(oid):
            return _error(403, "the upload URL is not signed for this object")
        size = int(request.query.get("size", -1))
        if hashlib.sha256(request.body).hexdigest() != oid or len(request.body) != size:
            return _error(400, f"the uploaded bytes are not object {oid} of {size} bytes")
        self.lfs_objects[oid] = request.body
        return _Response(200, b"", {})

    def commit(self, request: _Request, repo: Repo, revision: str) -> _Response:
        if revision != "main":
            return _error(404, f"the stand-in commits to main only, not {revision}", code="RevisionNotFound")
        lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        if not lines or lines[0]["key"] != "header":
            return _error(400, "a commit starts with its header line")
        header = lines[0]["value"]
        files = dict(repo.files)
        changed = []
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            path = value["path"]
            if key == "file":
                content = base64.b64decode(value["content"])
                if self.upload_mode(path, len(content)) == "lfs" and content:
                    return _error(400, f"{path} must be uploaded with LFS (see the preupload answer)")
                files[path] = StoredFile(content, lfs=False)
            elif key == "lfsFile":
                if value["oid"] not in self.lfs_objects:
                    return _error(400, f"{path}: LFS object {value['oid']} was never uploaded")
                files[path] = StoredFile(self.lfs_objects[value["oid"]], lfs=True)
            elif key == "deletedFile":
                files.pop(path, None)
            elif key == "deletedFolder":
                files = {name: file for name, file in files.items() if not name.startswith(path.rstrip("/") + "/")}
            else:
                return _error(400, f"the stand-in does not take {key!r} commit lines")
            changed.append(path)
        digest = hashlib.sha1(repo.commits[-1].oid.encode() + json.dumps(lines, sort_keys=True).encode()).hexdigest()
        repo.commits.append(Commit(digest, header["summary"], header.get("description", ""), files, changed))
        return _json({"commitUrl": f"{self.url}/{repo.repo_id}/commit/{digest}", "commitOid": digest})

    def repo_info(self, request: _Request, repo: Repo, revision: str) -> _Response:
        tree = repo.tree(revision)
        if tree is None:
            return _error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        siblings = [{"rfilename": path} for path in sorted(tree.files)]
        info = {"id": repo.repo_id, "modelId": repo.repo_id, "sha": tree.oid}
        info.update(private=bool(repo.private), disabled=False, gated=False, siblings=siblings, tags=[])
        return _json(info)

    def resolve(self, request: _Request, repo: Repo, revision: str, path: str) -> _Response:
        path = unquote(path)
        tree = repo.tree(revision)
        if tree is None:
            return _error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        headers = {"X-Repo-Commit": tree.oid}
        file = tree.files.get(path)
        if file is None:
            return _error(404, "Entry not found", code="EntryNotFound", **headers)
        headers["ETag"] = f'"{file.git_oid}"'
        if file.lfs:
            headers.update({"X-Linked-Etag": f'"{file.sha256}"', "X-Linked-Size": str(len(file.content))})
        return _Response(200, file.content, headers)

    def route(self, request: _Request) -> _Response:
        method, path = request.method, request.path
        if method == "PUT" and (match := re.fullmatch(r"/lfs-upload/(?P<oid>[0-9a-f]{64})", path)):
            return self.lfs_upload(request, match["oid"])
        if method in ("POST", "PUT", "DELETE") and request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "Invalid credentials in Authorization header")
        if method == "GET" and path == "/api/whoami-v2":
            return _json({"type": "user", "name": USER, "auth": {"accessToken": {"role": "write"}}})
        if method == "GET" and path == "/api/agent-harnesses":
            return _json({"standardEnvVars": [], "harnesses": {}})
        if method == "POST" and path == "/api/validate-yaml":
            return self.validate_yaml(request)
        if method == "POST" and path == "/api/repos/create":
            return self.create_repo(request)
        routes = [
            ("POST", rf"/api/models/{REPO}/preupload/(?P<rev>[^/]+)", self.preupload),
            ("POST", rf"/api/models/{REPO}/commit/(?P<rev>[^/]+)", self.commit),
            ("POST", rf"/{REPO}\.git/info/lfs/objects/batch", self.lfs_batch),
            ("GET", rf"/api/models/{REPO}(?:/revision/(?P<rev>[^/]+))?", self.repo_info),
            ("HEAD GET", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
        ]
        for methods, pattern, handler in routes:
            if method in methods.split() and (match := re.fullmatch(pattern, path)):
                repo = self.repos.get(match["repo"])
                if repo is None:
                    return _error(404, "Repository not found", code="RepoNotFound")
                arguments = {name: value for name, value in match.groupdict().items() if name != "repo"}
                if "rev" in arguments:
                    arguments["rev"] = unquote(arguments["rev"] or "main")
                return handler(request, repo, *arguments.values())
        self.unhandled.append((method, request.raw_path))
        return _error(404, f"the stand-in does not implement {method} {path}")


@dataclass
class _Request:
    method: str
    raw_path: str
    headers: dict[str, str]  # lowercased names
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.raw_path).path

    @property
    def query(self) -> dict[str, str]:
        query = urlsplit(self.raw_path).query
        return dict(part.split("=", 1) for part in query.split("&") if "=" in part)

    def json(self):
        return json.loads(self.body)


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]


def _json(value, status: int = 200) -> _Response:
    return _Response(status, json.dumps(value).encode(), {"Content-Type": "application/json"})


def _error(status: int, message: str, code: str | None = None, **headers: str) -> _Response:
    response = _json({"error": message}, status)
    response.headers.update(headers, **{"X-Error-Message": message})
    if code:
        response.headers["X-Error-Code"] = code
    return response


def _handler_for(standin: HubStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects; every response carries its length

        def handle_one(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = _Request(self.command, self.path, headers, self._read_body())
            with standin.lock:
                standin.requests.append((self.command, self.path))
                try:
                    response = standin.route(request)
                except Exception as error:  # a stand-in bug or a request it misread: say so, don't hang up
                    standin.errors.append(f"{self.command} {self.path}: {error!r}")
                    response = _error(500, f"the stand-in failed: {error!r}")
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = handle_one

        def log_message(self, format: str, *args) -> None:  # the requests are kept in standin.requests
            pass

    return Handler


def use_standin(monkeypatch, standin: HubStandin, cache_dir: Path) -> None:
    """Point ``huggingface_hub`` (and transformers' shared client) at ``standin`` for one test.

    ``huggingface_hub.constants`` reads ``HF_ENDPOINT`` at import, so the module-level copies are patched too:
    the endpoint, the download URL template, the hosts it trusts with a token on redirects. The download cache,
    the client's agent-registry cache and hf_xet's logs go to ``cache_dir``, ``HF_TOKEN`` is the stand-in's token,
    offline mode is off, and Xet is off when the stand-in sends files to LFS (the client would send them through Xet
    otherwise)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", standin.url)
    monkeypatch.setenv("HF_TOKEN", standin.token)
    monkeypatch.setenv("HF_XET_CACHE", str(cache_dir / "xet"))  # hf_xet's logs, if this test starts its session
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", standin.url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", standin.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {"127.0.0.1"})
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", standin.lfs)
    # the client caches the stand-in's (empty) agent registry on disk for a day: not in the real HF_HOME
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(cache_dir / "agent_harnesses.json"))
    monkeypatch.setattr("huggingface_hub.utils._detect_agent._registry", None)
    # transformers keeps one HfApi, built with the endpoint of the moment: a fresh one for this test
    monkeypatch.setattr("transformers.utils.hub._hf_api", None)
