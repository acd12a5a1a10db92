"""Imports run one way: no module imports a cycle, every module imports alone, and the light packages
(results, groupings, weights, data) do not pull in the Trainer."""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hf_seedcat

PACKAGE_ROOT = Path(hf_seedcat.__file__).parent
REPO_ROOT = PACKAGE_ROOT.parent
LAZY_PACKAGES = ("hf_seedcat", "hf_seedcat.analysis", "hf_seedcat.data_scripts", "hf_seedcat.evaluation")
TRAINERS = ("hf_seedcat.trainer", "transformers.trainer")

# What each probe imports in a fresh interpreter, and the modules it must leave unimported.
ONE_WAY = {
    "import hf_seedcat; assert hf_seedcat.__version__": ("torch", "transformers", *TRAINERS),
    "import hf_seedcat.evaluation": ("torch", "evaluate", *TRAINERS),
    "from hf_seedcat.evaluation import load_sweep, read_results, select_trial": TRAINERS,
    "import hf_seedcat.grouping": TRAINERS,
    "import hf_seedcat.weighting": ("transformers", *TRAINERS),
    "import hf_seedcat.data_scripts": ("torch", *TRAINERS),
    "from hf_seedcat.data_scripts import DATASETS, load_domain_dataset": TRAINERS,
}


# ---------------------------------------------------------------------------------------------- helpers


def _modules() -> dict[str, Path]:
    """Every importable module of the package, by dotted name (folders without ``__init__.py`` are data)."""
    found = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
        if not all((REPO_ROOT.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts))):
            continue
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports when it runs, at any depth (function bodies too: an
    import inside a function is a cycle waiting for its first call); ``if TYPE_CHECKING:`` blocks never run.

    Importing ``a.b.c`` runs ``a`` and ``a.b`` first, so those count, except the packages ``name`` is inside
    of (they are already being imported when it runs).
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]))
                continue
            if isinstance(child, ast.Import):
                targets.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                for alias in child.names:
                    submodule = f"{module}.{alias.name}"
                    targets.add(submodule if submodule in known else module)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    edges = set()
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            ancestor = ".".join(parts[:i])
            if ancestor in known and ancestor != name and not name.startswith(ancestor + "."):
                edges.add(ancestor)
    return edges


def _import_graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imported_modules(name, path, known) for name, path in known.items()}


def _a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _fresh_python(code: str) -> subprocess.Popen:
    """A new interpreter running ``code`` against this checkout (not an installed copy of the package)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, f"{process.args[-1]!r} failed:\n{stderr[-3000:]}"
    return stdout


@pytest.fixture(scope="module")
def one_way_probes() -> dict[str, list[str]]:
    """For each statement of ONE_WAY, which of its forbidden modules a fresh interpreter holds after it
    (started together, so the probes share the cores)."""
    report = "import json, sys; print(json.dumps([m for m in {forbidden!r} if m in sys.modules]))"
    processes = {
        statement: _fresh_python(f"{statement}\n{report.format(forbidden=list(forbidden))}")
        for statement, forbidden in ONE_WAY.items()
    }
    return {statement: json.loads(_finish(process)) for statement, process in processes.items()}


# ---------------------------------------------------------------------------------------------- tests


def test_the_package_import_graph_has_no_cycle():
    graph = _import_graph()
    assert len(graph) > 50 and "hf_seedcat.trainer" in graph  # the walk found the package
    assert _a_cycle(graph) is None, f"import cycle: {' -> '.join(_a_cycle(graph))}"


def test_a_cycle_is_found_when_there_is_one():
    # The check above would pass on any graph if _a_cycle never found anything: the old data cycle.
    old = {"domain_dataset": {"hub_dataset"}, "hub_dataset": {"domain_dataset", "image_folder"}, "image_folder": set()}
    assert _a_cycle(old) == ["domain_dataset", "hub_dataset", "domain_dataset"]


def test_only_the_data_package_imports_the_dataset_factory():
    graph = _import_graph()
    importers = [name for name, targets in graph.items() if "hf_seedcat.data_scripts.factory" in targets]
    data_modules = sorted(name for name in importers if name.startswith("hf_seedcat.data_scripts."))
    assert data_modules == [], f"{data_modules} import factory.py; import the registry or the builders instead"
    registry_imports = graph["hf_seedcat.data_scripts.registry"]
    assert not any(target.startswith("hf_seedcat.data_scripts") for target in registry_imports), registry_imports


def test_every_module_imports_alone():
    # One interpreter; before each module every hf_seedcat module is forgotten, so each import starts from
    # nothing of ours (a fresh interpreter per module would take minutes, mostly re-importing torch).
    names = sorted(_modules())
    code = f"""
import importlib, sys, traceback
failures = {{}}
for name in {names!r}:
    for loaded in [m for m in sys.modules if m == "hf_seedcat" or m.startswith("hf_seedcat.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=-3)
for name, error in failures.items():
    print(name, error, sep=": ")
"""
    assert len(names) > 50
    assert _finish(_fresh_python(code)) == ""


@pytest.mark.parametrize("statement", list(ONE_WAY))
def test_light_imports_do_not_pull_the_trainer(one_way_probes, statement):
    assert one_way_probes[statement] == [], f"{statement!r} imported {one_way_probes[statement]}"


@pytest.mark.parametrize("package_name", LAZY_PACKAGES)
def test_every_public_name_resolves_to_its_definition(package_name):
    package = importlib.import_module(package_name)
    exports = package._EXPORTS
    assert sorted(package.__all__) == sorted(exports)
    assert set(package.__all__) <= set(dir(package))
    for name, module in exports.items():
        defined = getattr(importlib.import_module(module, package_name), name)
        assert getattr(package, name) is defined
    namespace: dict = {}
    exec(f"from {package_name} import *", namespace)
    assert set(package.__all__) <= set(namespace)


def test_from_imports_of_the_root_keep_working():
    from hf_seedcat import SeedCategories, SeedCatTrainer, create_grouper
    from hf_seedcat.seed_categories import SeedCategories as Defined
    from hf_seedcat.trainer import SeedCatTrainer as DefinedTrainer

    assert SeedCatTrainer is DefinedTrainer and SeedCategories is Defined
    assert create_grouper("loss_rank", groups_per_unit=2).requires == ("losses",)
    from hf_seedcat import trainer  # a submodule, not a public name: still imported on request

    assert trainer.SeedCatTrainer is SeedCatTrainer


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="'hf_seedcat' has no attribute 'SeedcatTrainer'"):
        hf_seedcat.SeedcatTrainer  # noqa: B018
    assert not hasattr(importlib.import_module("hf_seedcat.evaluation"), "no_such_name")
