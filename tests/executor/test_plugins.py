"""Another installed plugin registering 'awsbatch' is found, in Covalent's loading order.

A second distribution is made real for importlib.metadata: a ``.dist-info`` folder with its
entry point, on ``sys.path`` before or after this package's (Covalent loads in that order).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from covalent._shared_files.logger import app_log

from covalent_eventbatch.controlplane import doctor
from covalent_eventbatch.executor import awsbatch, plugins

OTHER = "covalent-awsbatch-plugin"


def _other_distribution(root: Path, short_name: str = "awsbatch") -> Path:
    info = root / "covalent_awsbatch_plugin-0.42.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {OTHER}\nVersion: 0.42.0\n")
    (info / "entry_points.txt").write_text(
        "[covalent.executor.executor_plugins]\n"
        f"{short_name} = covalent_awsbatch_plugin.{short_name}\n"
    )
    return root


def test_alone_there_is_no_rivalry() -> None:
    (only,) = plugins.registrations()
    assert only.own and only.module == "covalent_eventbatch.executor.awsbatch"
    assert plugins.rivalry() is None
    check = doctor.plugin_check()
    assert check.status == doctor.PASS
    assert "covalent-eventbatch-plugin alone" in check.detail


def test_loaded_after_this_plugin_the_other_one_is_used(tmp_path, monkeypatch) -> None:
    # The other one goes last: appended.
    monkeypatch.setattr(sys, "path", [*sys.path, str(_other_distribution(tmp_path))])
    found = plugins.rivalry()
    assert found is not None
    assert [r.distribution for r in found.registered] == ["covalent-eventbatch-plugin", OTHER]
    assert found.used.distribution == OTHER
    message = found.message()
    assert "executor plugins named 'awsbatch'" in message
    assert f"It uses the one it loads last, {OTHER}" in message
    assert f"To use covalent-eventbatch-plugin instead: pip uninstall {OTHER}" in message
    assert "covalent restart" in message and "carry over" in message


def test_loaded_before_this_plugin_this_one_is_used_for_now(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(_other_distribution(tmp_path)))
    found = plugins.rivalry()
    assert found is not None and found.used.own
    assert f"To keep covalent-eventbatch-plugin: pip uninstall {OTHER}" in found.message()
    # The doctor: not a failure while this one is used, but said, with the fix.
    check = doctor.plugin_check()
    assert check.status == doctor.WARN
    assert f"{OTHER} 0.42.0 (covalent_awsbatch_plugin.awsbatch) also registers it" in check.detail
    assert f"pip uninstall {OTHER}" in check.fix
    assert "fix: " in check.line()


def test_what_covalent_holds_decides_over_the_order(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(_other_distribution(tmp_path)))
    found = plugins.rivalry(loaded_module="covalent_awsbatch_plugin.awsbatch")
    assert found is not None and found.used.distribution == OTHER


def test_another_short_name_is_no_rival(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(_other_distribution(tmp_path, short_name="awsfargate")))
    assert plugins.rivalry() is None


def test_one_warning_in_covalents_log(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.syspath_prepend(str(_other_distribution(tmp_path)))
    # Covalent's logger does not propagate: listen on it directly.
    app_log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger=app_log.name):
            awsbatch.warn_of_rivals()
    finally:
        app_log.removeHandler(caplog.handler)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"pip uninstall {OTHER}" in warnings[0].getMessage()


@pytest.mark.parametrize("name", ["covalent_eventbatch_plugin", "Covalent.EventBatch-Plugin"])
def test_own_distribution_name_in_any_spelling(name: str) -> None:
    assert plugins.Registration(name, "1", "m.awsbatch").own
