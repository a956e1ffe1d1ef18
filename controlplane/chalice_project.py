"""The Lambda's Chalice project, built from the installed package into a folder of its own.

What ``chalice package`` needs ships inside the package, under ``controlplane/chalice-project/``
(the one source of truth): the entry point ``app.py``, ``.chalice/config.json`` and the handlers'
IAM policy, and ``requirements.txt``. ``build`` lays them out in a folder with
``vendor/chalice_app`` copied from the installed handlers (Chalice bundles ``vendor/`` at the
zip's root, so the entry point's ``import chalice_app`` works in Lambda), so deploying needs no
checkout. ``eventbatch deploy`` packages such a folder, and the local stack's relay imports its
handlers from one, so both run the very code that is zipped.

The repository's root ``app.py``, ``.chalice/`` and ``requirements.txt`` (for operators who run
``chalice deploy`` from a clone) are copies written by ``make generated``
(``python -m controlplane.chalice_project ROOT``); a test fails when they differ.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

# The project's files, relative to its root, as Chalice expects them.
FILES = ("app.py", ".chalice/config.json", ".chalice/policy-markers.json", "requirements.txt")
HANDLERS_PACKAGE = "covalent_eventbatch.chalice_app"
VENDORED_AS = "vendor/chalice_app"


def packaged(name: str) -> Traversable:
    """One file of the packaged project (``name`` as in ``FILES``)."""
    node = resources.files("covalent_eventbatch.controlplane").joinpath("chalice-project")
    for part in name.split("/"):
        node = node.joinpath(part)
    return node


def handler_sources() -> dict[str, str]:
    """The installed handlers' modules, file name -> source (what Lambda runs)."""
    package = resources.files(HANDLERS_PACKAGE)
    return {
        entry.name: entry.read_text()
        for entry in package.iterdir()
        if entry.is_file() and entry.name.endswith(".py")
    }


def build(target: Path) -> Path:
    """Write the Chalice project into ``target`` (made if missing); return ``target``."""
    for name in FILES:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(packaged(name).read_text())
    vendored = target / VENDORED_AS
    if vendored.exists():
        shutil.rmtree(vendored)
    vendored.mkdir(parents=True)
    for name, source in handler_sources().items():
        (vendored / name).write_text(source)
    return target


def write_copies(root: Path) -> None:
    """The repository root's copies of the packaged files (``make generated``)."""
    for name in FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(packaged(name).read_text())


if __name__ == "__main__":
    write_copies(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
