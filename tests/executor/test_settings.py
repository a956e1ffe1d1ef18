"""Settings: precedence (argument > covalent.conf > default) and every refusal's message."""

from __future__ import annotations

import pytest

from covalent_eventbatch.executor.errors import InvalidSettingError
from covalent_eventbatch.executor.settings import ExecutorSettings


def test_argument_beats_config_beats_default() -> None:
    settings = ExecutorSettings.resolve(
        {"vcpu": 16, "memory": None}, {"vcpu": 4, "memory": 8, "batch_queue": "q-from-conf"}
    )
    assert settings.vcpu == 16  # argument
    assert settings.memory == 8  # covalent.conf
    assert settings.batch_queue == "q-from-conf"
    assert settings.time_limit == 300  # default of the original plugin


def test_explicit_falsy_arguments_win_over_config() -> None:
    settings = ExecutorSettings.resolve(
        {"num_gpus": 0, "profile": "", "retry_user_errors": False},
        {"num_gpus": 2, "profile": "research", "retry_user_errors": True},
    )
    assert settings.num_gpus == 0
    assert settings.profile == ""
    assert settings.retry_user_errors is False


def test_original_defaults_are_kept() -> None:
    s = ExecutorSettings()
    assert (s.vcpu, s.memory, s.num_gpus, s.retry_attempts, s.time_limit, s.poll_freq) == (
        2,
        3.75,
        0,
        3,
        300,
        10,
    )
    assert s.s3_bucket_name == "covalent-batch-job-resources"
    assert s.ecr_repo_name == "covalent-batch-job-images"
    assert s.batch_queue == "covalent-batch-queue"


def test_config_strings_are_coerced() -> None:
    settings = ExecutorSettings.resolve(
        {}, {"vcpu": "4", "memory": "8", "time_limit": "600", "platform": "fargate"}
    )
    assert settings.vcpu == 4 and settings.time_limit == 600 and settings.platform == "FARGATE"


def test_extra_packages_from_string_or_list() -> None:
    assert ExecutorSettings.resolve({"extra_pip_packages": "numpy, scipy"}).extra_pip_packages == (
        "numpy",
        "scipy",
    )
    assert ExecutorSettings.resolve({"extra_pip_packages": ["numpy"]}).extra_pip_packages == (
        "numpy",
    )


def test_fractional_vcpu_on_fargate_is_honoured() -> None:
    settings = ExecutorSettings.resolve({"platform": "FARGATE", "vcpu": 0.25, "memory": 0.5})
    assert settings.vcpu_text == "0.25"
    assert settings.memory_mib == 512


def test_fargate_alone_gets_a_valid_size() -> None:
    plugin_defaults = ExecutorSettings().to_config()  # what the plugin gives Covalent
    # Nothing given, or only the platform set in a covalent.conf that Covalent filled with the
    # plugin's defaults (vcpu 2, memory 3.75): Fargate's nearest pair, 2 vCPU and 4 GiB.
    for arguments, config in (
        ({"platform": "FARGATE"}, {}),
        ({}, {**plugin_defaults, "platform": "FARGATE"}),
        ({"platform": "fargate"}, plugin_defaults),
    ):
        settings = ExecutorSettings.resolve(arguments, config)
        assert (settings.vcpu, settings.memory) == (2, 4)
    # EC2 keeps the original plugin's defaults.
    assert (ExecutorSettings.resolve({}).vcpu, ExecutorSettings.resolve({}).memory) == (2, 3.75)
    # A size the user chose is never changed.
    chosen = ExecutorSettings.resolve({}, {"platform": "FARGATE", "vcpu": 4, "memory": 8})
    assert (chosen.vcpu, chosen.memory) == (4, 8)


@pytest.mark.parametrize(
    ("arguments", "config"),
    [
        ({"platform": "FARGATE", "vcpu": 2}, {}),  # memory left at 3.75
        ({"platform": "FARGATE", "memory": 3.75}, {}),
        ({"vcpu": 4}, {"platform": "FARGATE", "memory": 3.75}),
        ({}, {"platform": "FARGATE", "vcpu": 1, "memory": 3.75}),
    ],
)
def test_fargate_with_one_of_the_pair_given_lists_the_valid_pairs(
    arguments: dict, config: dict
) -> None:
    with pytest.raises(InvalidSettingError) as raised:
        ExecutorSettings.resolve(arguments, config)
    message = str(raised.value)
    assert raised.value.key == "memory"
    assert "vcpu=0.25: memory 0.5-2 GiB (step 0.5)" in message
    assert "vcpu=2: memory 4-16 GiB (step 1)" in message
    assert "vcpu=16: memory 32-120 GiB (step 8)" in message


@pytest.mark.parametrize(
    ("arguments", "key", "fragment"),
    [
        ({"vcpu": 0}, "vcpu", "greater than 0"),
        ({"vcpu": -1}, "vcpu", "greater than 0"),
        ({"memory": 0}, "memory", "greater than 0"),
        ({"memory": -2}, "memory", "greater than 0"),
        ({"vcpu": 1.5}, "vcpu", "whole number"),
        ({"time_limit": 30}, "time_limit", "at least 60"),
        ({"retry_attempts": 0}, "retry_attempts", "1 to 10"),
        ({"retry_attempts": 11}, "retry_attempts", "1 to 10"),
        ({"num_gpus": -1}, "num_gpus", "0 or more"),
        ({"pack_window": -0.1}, "pack_window", "0 (no packing) to 10"),
        ({"pack_window": 60}, "pack_window", "0 (no packing) to 10"),
        ({"pack_window": "soon"}, "pack_window", "a number is required"),
        ({"platform": "LAMBDA"}, "platform", "EC2, FARGATE"),
        ({"platform": "FARGATE", "num_gpus": 1, "vcpu": 1, "memory": 2}, "num_gpus", "no GPUs"),
        ({"platform": "FARGATE", "vcpu": 3, "memory": 8}, "vcpu", "Fargate allows"),
        ({"platform": "FARGATE", "vcpu": 1, "memory": 16}, "memory", "2 to 8 GiB"),
        ({"container_image_uri": "not a uri!"}, "container_image_uri", "image reference"),
        ({"s3_bucket_name": "Bad_Bucket"}, "s3_bucket_name", "bucket name"),
        ({"vcpu": "many"}, "vcpu", "number is required"),
        ({"poll_freq": 0}, "poll_freq", "greater than 0"),
    ],
)
def test_bad_settings_are_refused_with_the_key_and_allowed_values(
    arguments: dict, key: str, fragment: str
) -> None:
    with pytest.raises(InvalidSettingError) as raised:
        ExecutorSettings.resolve(arguments)
    message = str(raised.value)
    assert raised.value.key == key
    assert key in message and fragment in message
    assert "[executors.awsbatch]" in message


def test_to_config_round_trips() -> None:
    settings = ExecutorSettings.resolve({"extra_pip_packages": ["numpy"], "vcpu": 4})
    assert ExecutorSettings.resolve({}, settings.to_config()) == settings


def test_tasks_of_any_size_share_one_job_definition() -> None:
    from covalent_eventbatch.executor.workflow import job_definition

    def name(**arguments: object) -> str:
        settings = ExecutorSettings.resolve(arguments)
        return str(
            job_definition(settings, "repo:tag", "aws", "1", "us-east-1")["JobDefinitionName"]
        )

    assert name(vcpu=16, memory=16, num_gpus=1, time_limit=600) == name()
    assert name(batch_job_role_name="OtherRole") != name()
    assert name(platform="FARGATE", vcpu=1, memory=2) != name()


def test_the_wait_deadline_covers_every_attempt_and_the_queue() -> None:
    from covalent_eventbatch.executor.awsbatch import wait_deadline

    settings = ExecutorSettings.resolve(
        {"retry_attempts": 3, "time_limit": 600, "queue_timeout": 900}
    )
    assert wait_deadline(settings) == 3 * 600 + 900
    assert wait_deadline(ExecutorSettings()) == 3 * 300 + 3600


def test_pack_window_zero_is_kept_and_text_is_read_as_seconds() -> None:
    assert ExecutorSettings.resolve({"pack_window": 0}, {"pack_window": 0.5}).pack_window == 0
    assert ExecutorSettings.resolve({}, {"pack_window": "0.5"}).pack_window == 0.5
    assert ExecutorSettings.resolve({}).pack_window == 0.2
