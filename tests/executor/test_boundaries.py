"""The plugin package stands alone: nothing under executor/ reaches into the control plane's
tooling, the local stack, the benchmark or the command-line entry."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

EXECUTOR = Path(__file__).resolve().parents[2] / "executor"
FORBIDDEN = ("controlplane", "localaws", "dispatchview", "benchmarks", "eventbatch_cli", "tests")


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_no_module_under_executor_imports_the_tooling_or_the_local_stack() -> None:
    offending = [
        f"{path.relative_to(EXECUTOR.parent)} imports {name}"
        for path in sorted(EXECUTOR.rglob("*.py"))
        for name in _imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offending == []


def test_the_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from localaws import stack\n    import controlplane.deploy\n")
    assert _imported_modules(module) == ["localaws", "controlplane.deploy"]


def test_loading_the_plugin_loads_none_of_them() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, executor.awsbatch, executor.runner, executor.cli; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=EXECUTOR.parent,
    ).stdout.split()
    assert "executor" in loaded
    assert [name for name in FORBIDDEN if name in loaded] == []
