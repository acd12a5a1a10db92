"""Which code made a result: every ``results.jsonl`` line names it, so tables never pool code versions.

The version is, first, ``$HF_SEEDCAT_CODE_VERSION`` (set where the code travels without its git history,
as on the GPU machine, by ``bench/device/prepare.sh``); else ``git describe --always --dirty`` of the
checkout the package was imported from; else the installed package's version (a wheel install).
"""

from __future__ import annotations

import functools
import os
import subprocess

CODE_VERSION_VARIABLE = "HF_SEEDCAT_CODE_VERSION"


@functools.cache
def code_version() -> str:
    """A string naming this code: a commit (``-dirty`` when uncommitted changes were present) or a version."""
    given = os.environ.get(CODE_VERSION_VARIABLE)
    if given:
        return given
    package_dir = os.path.dirname(os.path.abspath(__file__))
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=package_dir,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        # .git is a folder in a clone and a file in a linked worktree (git worktree add) or a submodule.
        if described and os.path.exists(os.path.join(os.path.dirname(package_dir), ".git")):
            return described
    except (OSError, subprocess.SubprocessError):
        pass
    from . import __version__

    return f"hf_seedcat-{__version__}"
