"""The dependency rule of DESIGN.md, checked on the import statements (import-linter style,
by parsing every module of the package with ast; lazy imports inside functions count too).

- the pure side (aggregate/, verify/, update/, learning/) never imports the adapters
  (p2p/, chain/, store/);
- the honest path never imports simulation: no module that node/round.py or node/daemon.py
  imports, directly or through others, imports node.attacks (attacks plug in at their own
  composition root, ``python -m node.attacks``, through node/behaviour.py).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "node"
PURE = ("node.aggregate", "node.verify", "node.update", "node.learning")
ADAPTERS = ("node.p2p", "node.chain", "node.store")
SIMULATION = ("node.attacks", "node.byzantine")
HONEST_ROOTS = ("node.round", "node.daemon")


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in PACKAGE.rglob("*.py")}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@cache
def imports_of(module: str) -> frozenset[str]:
    """The node.* modules ``module`` imports (``from a import b`` counts as a.b when a.b
    is a module, else as a)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    return frozenset(n for n in out if _within(n, ("node",)) and n in MODULES)


def reachable(start: str) -> dict[str, str]:
    """Every module ``start`` imports, directly or not, with the module that imports it."""
    seen = {start: ""}
    todo = [start]
    while todo:
        current = todo.pop()
        for dep in imports_of(current):
            # importing a.b.c runs a/__init__ and a/b/__init__ too
            parts = dep.split(".")
            for i in range(2, len(parts) + 1):
                name = ".".join(parts[:i])
                if name in MODULES and name not in seen:
                    seen[name] = current
                    todo.append(name)
    return seen


def test_the_pure_side_never_imports_the_adapters() -> None:
    bad = [
        f"{m} imports {d}"
        for m in sorted(MODULES)
        if _within(m, PURE)
        for d in sorted(imports_of(m))
        if _within(d, ADAPTERS)
    ]
    assert not bad, bad


@pytest.mark.parametrize("root", HONEST_ROOTS)
def test_the_honest_path_never_imports_simulation(root: str) -> None:
    chain = reachable(root)
    bad = [f"{m} (imported by {chain[m]})" for m in sorted(chain) if _within(m, SIMULATION)]
    assert not bad, f"{root} reaches simulation code: {bad}"


def test_the_checker_sees_imports() -> None:
    """The rule is not vacuous: the simulation root does reach the attacks and the
    daemon, and the round reaches the pure step and the ports."""
    assert {"node.attacks.byzantine", "node.daemon"} <= set(reachable("node.attacks.__main__"))
    assert {"node.aggregate.step", "node.ports", "node.behaviour"} <= set(reachable("node.round"))
