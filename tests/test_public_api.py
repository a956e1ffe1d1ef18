"""Tests use the product's public names: none imports a private one (``_x``) or reads one off a
module of the product, so that a module's private names stay free to change."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = "covalent_eventbatch"


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# Names Covalent itself reads off a plugin module.
COVALENT_PROTOCOL = {"_EXECUTOR_PLUGIN_DEFAULTS"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in COVALENT_PROTOCOL


def _reaches(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    modules: set[str] = set()  # local names bound to a module of the product
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE) and alias.asname:
                    modules.add(alias.asname)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{path.relative_to(TESTS)}:{node.lineno} imports {alias.name}")
                elif _is_module(f"{node.module}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(
                f"{path.relative_to(TESTS)}:{node.lineno} reads {node.value.id}.{node.attr}"
            )
    return found


def test_no_test_reaches_into_a_private_name_of_the_product() -> None:
    offending = [line for path in sorted(TESTS.rglob("*.py")) for line in _reaches(path)]
    assert offending == []
