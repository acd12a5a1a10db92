"""A package's public names, imported from their modules on first use (PEP 562).

Importing ``hf_seedcat.evaluation`` runs ``hf_seedcat/__init__.py`` first, so a package ``__init__`` that
imports every module makes the lightest import (reading ``results.jsonl``) pay for the heaviest (the
Trainer, timm, scikit-learn). A package that declares its names here imports a module only when one of its
names is asked for, and ``from package import name`` works as before.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps each public name to the module, relative
    to ``package`` (``".config"``), that defines it. A name is imported once, then kept on the package."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            # Also what `from package import submodule` relies on: AttributeError makes Python import it.
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later lookups no longer reach __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
