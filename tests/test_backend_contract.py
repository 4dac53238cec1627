"""Both backends implement ``minigrad.backends.contract.Backend``, name for name and signature for signature.

The packages are described in a fresh interpreter under Numba's CUDA simulator (as the CUDA
tests run without a GPU; a full-suite process has imported Numba without it): for each name
the package exports, the file that defines it and its parameters. The checks then compare
those descriptions with the Protocol here:

- every Protocol method exists in ``minigrad.backends.cpu`` and ``minigrad.backends.cuda``,
  defined in a module of the same file name on both sides (the one its docstring names), with
  the Protocol's parameters (names, kinds, defaults; ``.py_func`` of a Numba dispatcher, the
  wrapper of a kernel behind a launcher);
- nothing else is exported: a name outside the Protocol is declared in ``CPU_ONLY`` or
  ``CUDA_ONLY``, in a package's namespace and in its kernel modules' ``__all__``.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys

import pytest

from minigrad.backends.contract import CPU_ONLY, CUDA_ONLY, Backend

PACKAGES = {"cpu": "minigrad.backends.cpu", "cuda": "minigrad.backends.cuda"}
ONLY = {"cpu": CPU_ONLY, "cuda": CUDA_ONLY}

_DESCRIBE = r"""
import importlib, inspect, json, pkgutil, sys

def params(obj):
    f = getattr(obj, "py_func", obj)
    return [[p.name, p.kind.name, None if p.default is p.empty else repr(p.default)]
            for p in inspect.signature(f).parameters.values()]

def where(obj):
    return inspect.unwrap(getattr(obj, "py_func", obj)).__module__.rsplit(".", 1)[-1] + ".py"

out = {}
for side, name in json.loads(sys.argv[1]).items():
    package = importlib.import_module(name)
    exported = {}
    for attr in dir(package):
        obj = getattr(package, attr)
        if attr.startswith("_") or inspect.ismodule(obj) or not callable(obj):
            continue
        exported[attr] = {"file": where(obj), "params": params(obj)}
    modules = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{name}.{info.name}")
        modules[info.name + ".py"] = list(getattr(module, "__all__", []))
    out[side] = {"exported": exported, "modules": modules}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def described():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", _DESCRIBE, json.dumps(PACKAGES)], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.splitlines()[-1])


def _protocol() -> dict:
    """{name: (file named by the docstring, parameters without self)} of ``Backend``'s methods."""
    methods = {}
    for name, fn in vars(Backend).items():
        if name.startswith("_") or not inspect.isfunction(fn):
            continue
        file = re.match(r"``(\w+\.py)``:", inspect.getdoc(fn) or "")
        params = [[p.name, p.kind.name, None if p.default is p.empty else repr(p.default)]
                  for p in list(inspect.signature(fn).parameters.values())[1:]]
        methods[name] = (file.group(1) if file else None, params)
    return methods


def contract_violations(described: dict) -> list[str]:
    """Every way the described packages differ from ``Backend`` (empty when they implement it)."""
    found = []
    protocol = _protocol()
    for name, (file, params) in sorted(protocol.items()):
        if file is None:
            found.append(f"Backend.{name}: the docstring does not start with the kernel's file (``name.py``: ...)")
        for side in PACKAGES:
            entry = described[side]["exported"].get(name)
            if entry is None:
                found.append(f"{side}: {name} is missing")
                continue
            if entry["file"] != file:
                found.append(f"{side}: {name} is defined in {entry['file']}, the contract says {file}")
            if entry["params"] != params:
                found.append(f"{side}: {name}{_show(entry['params'])} differs from the contract's {name}{_show(params)}")
    for side in PACKAGES:
        allowed = set(protocol) | ONLY[side]
        for name in sorted(set(described[side]["exported"]) - allowed):
            found.append(f"{side}: exports {name}, which is neither in the contract nor in {side.upper()}_ONLY")
        for module, names in sorted(described[side]["modules"].items()):
            for name in sorted(set(names) - allowed):
                found.append(f"{side}: {module} lists {name} in __all__, undeclared in the contract")
        for name in sorted(ONLY[side] - set(described[side]["exported"])):
            found.append(f"{side}: {side.upper()}_ONLY lists {name}, which the package does not export")
    return found


def _show(params) -> str:
    return "(" + ", ".join(p[0] + ("" if p[2] is None else "=" + p[2]) for p in params) + ")"


def test_both_backends_implement_the_contract(described):
    assert contract_violations(described) == []


def test_the_contract_and_its_exceptions_do_not_overlap():
    assert not (CPU_ONLY | CUDA_ONLY) & set(_protocol())


def test_the_check_can_fail(described):
    """A renamed parameter, a kernel in another file, a missing and an undeclared kernel are all found."""
    planted = json.loads(json.dumps(described))
    cpu, cuda = planted["cpu"]["exported"], planted["cuda"]["exported"]
    cpu["im2col"]["params"][0][0] = "columns"
    cuda["gemm"]["file"] = "array.py"
    del cuda["relu_forward"]
    cpu["softmax_cross_entropy_forward"] = {"file": "fused.py", "params": []}
    found = "\n".join(contract_violations(planted))
    assert "cpu: im2col(columns" in found
    assert "cuda: gemm is defined in array.py" in found
    assert "cuda: relu_forward is missing" in found
    assert "cpu: exports softmax_cross_entropy_forward" in found
