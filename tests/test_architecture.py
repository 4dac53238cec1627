"""The layering of docs/design.md, checked on the source: who may import whom.

Every ``import`` in ``minigrad/``, ``models/`` and ``cli/`` is read with ``ast`` (imports inside
functions too: a lazy import is still a dependency), resolved to the module it names, and
checked against the layers below, bottom to top. A module may import its own layer and the
layers under it, never one above. Within a layer the import graph has no cycle, except the one
the design documents: Tensor's methods are the ops, and the ops build Tensors
(``tensor``, ``autograd``, ``functional`` and ``ops``).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Folders of the repository and the package names they install as (pyproject's package-dir).
PACKAGES = {"minigrad": "minigrad", "models": "minigrad.models", "cli": "minigrad.cli"}

#: Bottom to top. A module belongs to the layer of the longest prefix listed here.
LAYERS = [
    ("foundation", ["minigrad.configuration", "minigrad.dtypes", "minigrad.fileio", "minigrad.interrupts"]),
    ("backends", ["minigrad.backends"]),
    ("core", ["minigrad.autograd", "minigrad.tensor", "minigrad.ops", "minigrad.functional",
              "minigrad.reference", "minigrad.gradcheck"]),
    ("library", ["minigrad.nn", "minigrad.optim", "minigrad.data"]),
    ("models", ["minigrad.models"]),
    ("workflows", ["minigrad."]),  # everything else under minigrad: train, summary, viz, onnx, ...
    ("api", ["minigrad"]),  # the package itself: ``import minigrad as mg``
    ("cli", ["minigrad.cli"]),
]

#: The one import cycle the design allows (Tensor <-> its ops).
CORE_CYCLE = ("minigrad.tensor", "minigrad.autograd", "minigrad.functional", "minigrad.ops")


def _module_files() -> dict[str, pathlib.Path]:
    files = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join([package] + parts)] = path
    return files


FILES = _module_files()


def _imports(name: str, path: pathlib.Path) -> set[str]:
    """The minigrad modules that module ``name`` imports (a name from a package counts as the package)."""
    is_package = path.name == "__init__.py"
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            bases = [alias.name for alias in node.names]
            members = []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[:len(here) - node.level + 1]
                base = ".".join(here + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            bases, members = [base], [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for base in bases:
            if not base.startswith("minigrad"):
                continue
            submodules = [m for m in members if m in FILES]
            targets.update(submodules)
            if len(submodules) < len(members) or not members:
                targets.add(base)
    targets.discard(name)
    return {t for t in targets if t in FILES}


GRAPH = {name: _imports(name, path) for name, path in FILES.items()}


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix if prefix.endswith(".") else prefix + ".")
            if matches and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{module} is in no layer of test_architecture.LAYERS"
    return best


def _in_core_cycle(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in CORE_CYCLE)


def _ancestors(module: str) -> set[str]:
    """The packages above ``module``, without ``minigrad`` itself (its ``__init__`` is the api layer)."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts))}


def upward_imports() -> list[str]:
    """``a -> b`` for every import of a higher layer."""
    found = []
    for module, targets in sorted(GRAPH.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module) and target not in _ancestors(module):
                found.append(f"{module} ({LAYERS[layer_of(module)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})")
    return found


def own_package_imports() -> list[str]:
    """A module importing a name from its own package's ``__init__`` (or an ancestor's).

    ``from . import load_dataset`` inside ``minigrad/data/`` ties the submodule to the package
    that imports it back: import from the module that defines the name instead.
    """
    return [f"{module} -> {target}" for module, targets in sorted(GRAPH.items())
            for target in sorted(targets) if target in _ancestors(module)]


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(GRAPH):
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_every_module_has_a_layer():
    for module in FILES:
        layer_of(module)


def test_no_module_imports_a_higher_layer():
    assert upward_imports() == []


def test_no_module_imports_its_own_package():
    assert own_package_imports() == []


def test_the_only_import_cycle_is_tensor_and_its_ops():
    unexpected = [c for c in cycles() if not all(_in_core_cycle(m) for m in c)]
    assert unexpected == []


def test_ops_import_no_numba_and_only_cli_imports_typer():
    for module, path in FILES.items():
        text = path.read_text()
        roots = {(alias.name if isinstance(node, ast.Import) else (node.module or "")).split(".")[0]
                 for node in ast.walk(ast.parse(text)) if isinstance(node, (ast.Import, ast.ImportFrom))
                 for alias in node.names}
        if module.startswith("minigrad.ops"):
            assert "numba" not in roots, module
        if not module.startswith("minigrad.cli"):
            assert "typer" not in roots, module


@pytest.mark.parametrize("check", [upward_imports, own_package_imports])
def test_the_checks_can_fail(check, monkeypatch):
    """Each check finds a planted violation (so an empty result means something)."""
    planted = dict(GRAPH)
    planted["minigrad.backends.cpu.conv"] = GRAPH["minigrad.backends.cpu.conv"] | {"minigrad.train", "minigrad.backends.cpu"}
    monkeypatch.setitem(globals(), "GRAPH", planted)
    assert any(line.startswith("minigrad.backends.cpu.conv ") for line in check())


def test_the_cycle_check_can_fail(monkeypatch):
    planted = dict(GRAPH)
    planted["minigrad.configuration"] = GRAPH["minigrad.configuration"] | {"minigrad.backends.cpu.threads"}
    planted["minigrad.backends.cpu.threads"] = GRAPH["minigrad.backends.cpu.threads"] | {"minigrad.configuration"}
    monkeypatch.setitem(globals(), "GRAPH", planted)
    assert any("minigrad.configuration" in c for c in cycles())
