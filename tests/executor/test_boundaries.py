"""The plugin package stands alone: nothing under executor/ reaches into the control plane's
tooling, the local stack, the benchmark or the command-line entry."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

EXECUTOR = Path(__file__).resolve().parents[2] / "executor"
PACKAGE = "covalent_eventbatch"
FORBIDDEN = ("controlplane", "localaws", "dispatchview", "cli")
# Names outside the package the plugin must not load either.
FORBIDDEN_TOP = ("benchmarks", "tests", "moto", "chalice")


def _part(name: str) -> str | None:
    """The part of this project a module belongs to, or its top-level name when not ours."""
    head, _, rest = name.partition(".")
    if head == PACKAGE:
        return rest.split(".")[0] or None
    return head


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
        if _part(name) in FORBIDDEN or name.split(".")[0] in FORBIDDEN_TOP
    ]
    assert offending == []


def test_the_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text(
        "def f():\n    from covalent_eventbatch.localaws import stack\n"
        "    import covalent_eventbatch.controlplane.deploy\n"
    )
    assert _imported_modules(module) == [
        "covalent_eventbatch.localaws",
        "covalent_eventbatch.controlplane.deploy",
    ]


def test_loading_the_plugin_loads_none_of_them() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "import covalent_eventbatch.executor.awsbatch, covalent_eventbatch.container.runner\n"
            "import covalent_eventbatch.executor.cli\n"
            "print(' '.join(sorted(sys.modules)))",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=EXECUTOR.parent,
    ).stdout.split()
    assert "covalent_eventbatch.executor.awsbatch" in loaded
    parts = {_part(name) for name in loaded}
    assert [name for name in FORBIDDEN if name in parts] == []
    assert [name for name in FORBIDDEN_TOP if name in {n.split(".")[0] for n in loaded}] == []


def test_the_container_runner_ships_alone() -> None:
    """The image holds runner.py alone: it may import the standard library, boto3 (with
    botocore, which boto3 installs and whose Config bounds its clients) and cloudpickle, never
    this project's other parts."""
    runner = EXECUTOR.parent / "container" / "runner.py"
    allowed = {"boto3", "botocore", "cloudpickle"} | set(sys.stdlib_module_names)
    imported = {name.split(".")[0] for name in _imported_modules(runner)}
    assert imported - allowed == set()
