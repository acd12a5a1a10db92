"""Which code made a result: the commit, in a clone and in a linked worktree alike."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from hf_seedcat import provenance


def _git(cwd, *args: str) -> str:
    command = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_code_version_names_the_commit_in_a_clone_and_in_a_linked_worktree(tmp_path):
    repo = tmp_path / "repo"
    package = repo / "pkg"
    package.mkdir(parents=True)
    shutil.copy(provenance.__file__, package / "provenance.py")
    (package / "__init__.py").write_text('__version__ = "9.9"\n')
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    _git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "linked"))
    commit = _git(repo, "rev-parse", "--short=12", "HEAD")
    env = {key: value for key, value in os.environ.items() if key != provenance.CODE_VERSION_VARIABLE}
    for root in (repo, tmp_path / "linked"):  # .git: a folder in the clone, a file in the linked worktree
        script = f"import sys; sys.path.insert(0, {str(root)!r}); from pkg.provenance import code_version; "
        script += "print(code_version())"
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        assert result.stdout.strip() == commit, root
    shutil.rmtree(repo / ".git")  # no git history: the installed package's version
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(repo)!r}); from pkg.provenance import "
            "code_version; print(code_version())",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "hf_seedcat-9.9"
