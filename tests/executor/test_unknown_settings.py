"""Unknown settings are refused by name, with the closest valid key; Covalent's own pass."""

from __future__ import annotations

import logging

import pytest
from covalent._shared_files.config import get_config
from covalent.executor import _executor_manager

from covalent_eventbatch.executor import settings as settings_module
from covalent_eventbatch.executor.awsbatch import _EXECUTOR_PLUGIN_DEFAULTS, AWSBatchExecutor
from covalent_eventbatch.executor.errors import InvalidSettingError, UnknownSettingError
from covalent_eventbatch.executor.settings import ExecutorSettings

# covalent-awsbatch-plugin 0.42.0's _EXECUTOR_PLUGIN_DEFAULTS, which Covalent writes into the
# same [executors.awsbatch] section when that plugin is installed too (HOME varies).
ORIGINAL_DEFAULTS = {
    "credentials": "",
    "profile": "",
    "region": "us-east-1",
    "s3_bucket_name": "covalent-batch-job-resources",
    "batch_queue": "covalent-batch-queue",
    "batch_execution_role_name": "ecsTaskExecutionRole",
    "batch_job_role_name": "covalent-batch-job-role",
    "batch_job_log_group_name": "covalent-batch-job-logs",
    "cache_dir": "/tmp/covalent",
    "vcpu": 2,
    "memory": 3.75,
    "num_gpus": 0,
    "retry_attempts": 3,
    "time_limit": 300,
    "poll_freq": 10,
    "container_image_uri": "public.ecr.aws/covalent/covalent-executor-base:stable",
}
# Keys older releases of that plugin wrote as well.
ORIGINAL_OLDER_KEYS = {"ecr_repo_name": "covalent-batch-job-images"}


def test_a_misspelt_argument_names_the_closest_key() -> None:
    with pytest.raises(UnknownSettingError) as raised:
        AWSBatchExecutor(vcpus=4)
    assert isinstance(raised.value, InvalidSettingError)
    assert raised.value.key == "vcpus"
    message = str(raised.value)
    assert "vcpus: did you mean vcpu?" in message
    assert "given to AWSBatchExecutor(...)" in message


def test_an_argument_like_no_setting_is_refused_too() -> None:
    with pytest.raises(UnknownSettingError, match="foo: no such setting"):
        AWSBatchExecutor(foo=1)
    with pytest.raises(UnknownSettingError, match="foo: no such setting"):
        AWSBatchExecutor(foo=None)  # None is not a way to slip an unknown key in


def test_every_unknown_key_is_named_at_once() -> None:
    with pytest.raises(UnknownSettingError) as raised:
        ExecutorSettings.resolve({"memroy": 4, "time_limt": 60})
    message = str(raised.value)
    assert "settings given to AWSBatchExecutor(...)" in message
    assert "memroy: did you mean memory?" in message
    assert "time_limt: did you mean time_limit?" in message


def test_an_unknown_covalent_conf_key_is_refused_with_where_it_is() -> None:
    with pytest.raises(UnknownSettingError) as raised:
        ExecutorSettings.resolve({}, {**_EXECUTOR_PLUGIN_DEFAULTS, "regoin": "eu-west-1"})
    message = str(raised.value)
    assert "in the [executors.awsbatch] section of covalent.conf" in message
    assert "regoin: did you mean region?" in message


def test_covalents_own_executor_arguments_keep_working(tmp_path) -> None:
    executor = AWSBatchExecutor(
        log_stdout="out.log",
        log_stderr="err.log",
        retries=2,
        cache_dir=str(tmp_path),
        time_limit=120,
        vcpu=4,
    )
    assert (executor.log_stdout, executor.log_stderr, executor.retries) == (
        "out.log",
        "err.log",
        2,
    )
    assert executor.settings.cache_dir == str(tmp_path)
    assert executor.settings.time_limit == 120
    assert executor.settings.vcpu == 4


def test_the_dispatchers_way_of_rebuilding_an_executor_works() -> None:
    """The dispatcher: get_executor(short_name), i.e. cls(**section), then from_dict()."""
    sent = AWSBatchExecutor(vcpu=4, memory=8, time_limit=600)
    assert _executor_manager.executor_plugins_map["awsbatch"] is AWSBatchExecutor
    assert set(get_config("executors.awsbatch")) <= set(_EXECUTOR_PLUGIN_DEFAULTS)
    rebuilt = _executor_manager.get_executor(sent.short_name()).from_dict(sent.to_dict())
    assert isinstance(rebuilt, AWSBatchExecutor)
    assert rebuilt.settings == sent.settings


def test_the_original_plugins_keys_in_covalent_conf_are_accepted(caplog) -> None:
    settings_module.warn_original_image.cache_clear()
    section = {**_EXECUTOR_PLUGIN_DEFAULTS, **ORIGINAL_DEFAULTS, **ORIGINAL_OLDER_KEYS}
    with caplog.at_level(logging.WARNING, logger=settings_module.__name__):
        settings = ExecutorSettings.resolve({}, section)
        # As the dispatcher passes them: every key of the section as an argument.
        again = ExecutorSettings.resolve(section, section)
    assert settings == again
    assert settings.batch_job_role_name == "covalent-batch-job-role"  # carried over as set
    # That plugin's default image has no entry point of this executor: built instead.
    assert settings.container_image_uri == ""
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once per process
    assert "covalent-awsbatch-plugin's default image" in warnings[0]


def test_an_image_the_user_chose_is_kept() -> None:
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/covalent-batch-job-images:abc"
    assert ExecutorSettings.resolve({}, {"container_image_uri": uri}).container_image_uri == uri


def test_fargate_alone_in_covalent_conf_works_the_dispatchers_way_too() -> None:
    # The dispatcher builds executor="awsbatch" as cls(**section): the section's EC2 defaults
    # arrive as arguments, and are still not a choice the user made.
    section = {**_EXECUTOR_PLUGIN_DEFAULTS, "platform": "FARGATE"}
    by_sdk = ExecutorSettings.resolve({}, section)
    by_dispatcher = ExecutorSettings.resolve(section, section)
    assert (by_sdk.vcpu, by_sdk.memory) == (by_dispatcher.vcpu, by_dispatcher.memory) == (2, 4)
