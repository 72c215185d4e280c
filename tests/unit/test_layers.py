"""Imports flow one way: each package may import only the layers below it (an AST check)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FLOE = Path(__file__).resolve().parents[2] / "floe"
BASE = {"model"}
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "config": BASE,
    "nodes": BASE | {"config"},
    "store": BASE | {"config"},
    "host_secrets": BASE | {"config"},
    "cluster": BASE | {"config", "store"},
    "hub": BASE | {"config", "nodes", "store", "cluster"},
    "triggers": BASE | {"config", "nodes", "store", "cluster", "hub"},
    "server": BASE | {"config", "nodes", "store", "cluster", "hub", "triggers"},
    "cli_keys": BASE | {"config", "store"},  # `floe keys`
    "migrate": BASE | {"config", "store", "host_secrets", "hub"},  # `floe store migrate`
    "client": set(),  # `floe run`: the host's public API only
    "host": BASE | {"config", "store", "cluster", "hub", "triggers", "server", "host_secrets"},
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("floe.")}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_lower_layers(package: str) -> None:
    files = sorted((FLOE / package).rglob("*.py")) if (FLOE / package).is_dir() else [FLOE / f"{package}.py"]
    bad = {
        f"{f.relative_to(FLOE)} imports floe.{m}"
        for f in files
        for m in imports(f) - ALLOWED[package] - {package}
    }
    assert not bad, sorted(bad)


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in FLOE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in FLOE.glob("*.py")} - {"__init__", "__main__", "cli"}
    assert packages | modules <= set(ALLOWED)
