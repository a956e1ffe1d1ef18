"""The Chalice project deploy packages comes from the installed package, not from a checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from covalent_eventbatch.controlplane import chalice_project

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", chalice_project.FILES)
def test_the_roots_copies_are_the_packaged_files(name: str) -> None:
    # One source of truth: controlplane/chalice-project/. The root's copies serve 'chalice
    # deploy' from a clone; 'make generated' rewrites them.
    packaged = chalice_project.packaged(name).read_text()
    assert (ROOT / name).read_text() == packaged, f"{name} differs: run 'make generated'"


def test_build_lays_out_a_chalice_project_with_the_installed_handlers(tmp_path: Path) -> None:
    project = chalice_project.build(tmp_path / "project")
    for name in chalice_project.FILES:
        assert (project / name).read_text() == chalice_project.packaged(name).read_text()
    vendored = project / "vendor" / "chalice_app"
    handlers = Path(__import__("covalent_eventbatch.chalice_app").chalice_app.__file__).parent
    expected = sorted(p.name for p in handlers.glob("*.py"))
    assert sorted(p.name for p in vendored.iterdir()) == expected
    assert "app.py" in expected and "markers.py" in expected
    for name in expected:
        assert (vendored / name).read_text() == (handlers / name).read_text()
    # Files, not links into the checkout or site-packages.
    assert not any(p.is_symlink() for p in project.rglob("*"))


def test_build_replaces_handlers_left_from_an_earlier_build(tmp_path: Path) -> None:
    stale = tmp_path / "vendor" / "chalice_app" / "gone.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("raise SystemExit")
    chalice_project.build(tmp_path)
    assert not stale.exists()
