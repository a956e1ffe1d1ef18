"""The executor's settings: one typed, validated object.

Precedence, stated once: an argument given to ``AWSBatchExecutor(...)`` (anything but ``None``,
so an explicit ``0`` or ``""`` wins) > the ``[executors.awsbatch]`` section of covalent.conf >
the defaults below. Keys of the original AWS Batch plugin keep their names and meanings; the
keys after them are additions.
"""

from __future__ import annotations

import difflib
import functools
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from . import names
from .errors import InvalidSettingError, UnknownSettingError

log = logging.getLogger(__name__)

PLATFORMS = ("EC2", "FARGATE")
# Every electron of a group waits up to this long (seconds) before anything is submitted.
MAX_PACK_WINDOW = 10.0

# Fargate accepts only these vCPU values, each with its own memory range in GiB (min, max, step).
# https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html
FARGATE_MEMORY_GIB: dict[float, tuple[float, float, float]] = {
    0.25: (0.5, 2, 0.5),
    0.5: (1, 4, 1),
    1: (2, 8, 1),
    2: (4, 16, 1),
    4: (8, 30, 1),
    8: (16, 60, 4),
    16: (32, 120, 8),
}
# The original plugin's vcpu/memory defaults (2 vCPU, 3.75 GiB) are not a Fargate pair; on Fargate,
# when neither was given, the nearest valid one is used instead.
EC2_DEFAULT_SIZE = (2.0, 3.75)
FARGATE_DEFAULT_SIZE = (2.0, 4.0)

# registry[:port]/repository[:tag][@digest], as Docker parses an image reference.
_IMAGE_URI = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_PRICES = ("fargate_vcpu_hour_usd", "fargate_gb_hour_usd", "ec2_vcpu_hour_usd")

# covalent-awsbatch-plugin's default container_image_uri (its 0.42.0 _EXECUTOR_PLUGIN_DEFAULTS),
# which Covalent writes into the shared [executors.awsbatch] section when that plugin is
# installed too. The image has no entry point of this executor, so it is never used: the runtime
# image is built instead, as when the key is unset.
ORIGINAL_PLUGIN_IMAGE = "public.ecr.aws/covalent/covalent-executor-base:stable"
ARGUMENTS = "given to AWSBatchExecutor(...)"
CONFIG_SECTION = "in the [executors.awsbatch] section of covalent.conf"


def _default_credentials_file() -> str:
    return os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(
        os.path.expanduser("~"), ".aws", "credentials"
    )


@dataclass(frozen=True)
class ExecutorSettings:
    """Everything the executor reads from its arguments and covalent.conf.

    Units: ``memory`` in GiB, ``time_limit`` and the intervals in seconds.
    """

    # --- the original plugin's keys -------------------------------------------------------
    credentials: str = field(default_factory=_default_credentials_file)
    profile: str = field(default_factory=lambda: os.environ.get("AWS_PROFILE", ""))
    s3_bucket_name: str = names.DEFAULT_BUCKET
    ecr_repo_name: str = names.DEFAULT_REPOSITORY
    batch_job_definition_name: str = names.DEFAULT_JOB_DEFINITION
    batch_queue: str = names.DEFAULT_QUEUE
    batch_execution_role_name: str = "ecsTaskExecutionRole"
    batch_job_role_name: str = "CovalentBatchJobRole"
    batch_job_log_group_name: str = names.DEFAULT_LOG_GROUP
    vcpu: float = 2
    memory: float = 3.75
    num_gpus: int = 0
    retry_attempts: int = 3
    time_limit: int = 300
    cache_dir: str = "/tmp/covalent"
    # Seconds between the slow checks of Step Functions for a task whose marker is overdue.
    poll_freq: float = 10
    # --- additions --------------------------------------------------------------------------
    region: str = ""
    state_machine_name: str = names.DEFAULT_STATE_MACHINE
    s3_prefix: str = names.DEFAULT_PREFIX
    base_image: str = ""
    extra_pip_packages: tuple[str, ...] = ()
    container_image_uri: str = ""
    platform: str = "EC2"
    endpoint_url: str = ""
    registry_endpoint: str = ""
    marker_interval: float = 1.0
    retry_user_errors: bool = False
    # Seconds a job may wait for compute capacity, past its attempts' time limits, before the
    # executor reports it as stuck.
    queue_timeout: int = 3600
    # Prices in USD for the estimates of 'eventbatch status'; 0 means "not set": Fargate then
    # takes AWS's published rate for the region (dispatchview/pricing.py), EC2 shows none.
    fargate_vcpu_hour_usd: float = 0.0
    fargate_gb_hour_usd: float = 0.0
    ec2_vcpu_hour_usd: float = 0.0
    # Seconds the executor gathers electrons that arrive together and could share one Batch
    # array job; 0 submits every electron on its own.
    pack_window: float = 0.2

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def resolve(
        cls, arguments: Mapping[str, Any], config: Mapping[str, Any] | None = None
    ) -> ExecutorSettings:
        """Merge constructor arguments over covalent.conf values over defaults, then validate."""
        config = config or {}
        known = {f.name for f in fields(cls)}
        # covalent.conf first: Covalent's dispatcher passes the whole section as arguments.
        refuse_unknown(config, known, CONFIG_SECTION)
        refuse_unknown(arguments, known, ARGUMENTS)
        values: dict[str, Any] = {}
        for name in known:
            if arguments.get(name) is not None:
                values[name] = arguments[name]
            elif config.get(name) is not None:
                values[name] = config[name]
        if values.get("container_image_uri") == ORIGINAL_PLUGIN_IMAGE:
            warn_original_image()
            del values["container_image_uri"]
        if "extra_pip_packages" in values:
            values["extra_pip_packages"] = _as_package_tuple(values["extra_pip_packages"])
        for name in ("vcpu", "memory", "poll_freq", "marker_interval", "pack_window", *_PRICES):
            if name in values:
                values[name] = _as_number(name, values[name])
        for name in ("num_gpus", "retry_attempts", "time_limit", "queue_timeout"):
            if name in values:
                values[name] = _as_int(name, values[name])
        if "platform" in values and isinstance(values["platform"], str):
            values["platform"] = values["platform"].upper()
        if values.get("platform") == "FARGATE" and all(
            # Covalent's dispatcher passes covalent.conf's section as arguments: an argument
            # equal to the section's value is the section's.
            arguments.get(name) is None or arguments.get(name) == config.get(name)
            for name in ("vcpu", "memory")
        ):
            # Covalent copies a plugin's defaults into covalent.conf, so the EC2 defaults there
            # are not a choice the user made: platform = "FARGATE" alone must work.
            size = (values.get("vcpu", cls.vcpu), values.get("memory", cls.memory))
            if size == EC2_DEFAULT_SIZE:
                values["vcpu"], values["memory"] = FARGATE_DEFAULT_SIZE
        return cls(**values)

    def to_config(self) -> dict[str, Any]:
        """The settings as covalent.conf holds them (TOML-friendly: no tuples, no None)."""
        data = asdict(self)
        data["extra_pip_packages"] = list(self.extra_pip_packages)
        return data

    @property
    def memory_mib(self) -> int:
        return int(round(self.memory * 1024))

    @property
    def vcpu_text(self) -> str:
        """vCPUs as Batch's resourceRequirements expects them: '2', '0.25'."""
        return str(int(self.vcpu)) if float(self.vcpu).is_integer() else str(self.vcpu)


def refuse_unknown(given: Iterable[str], known: Iterable[str], where: str) -> None:
    """Raise UnknownSettingError naming each key of ``given`` not in ``known``, with the closest."""
    valid = sorted(known)
    unknown = sorted(k for k in given if k not in valid)
    if unknown:
        raise UnknownSettingError(
            {k: next(iter(difflib.get_close_matches(k, valid, n=1)), None) for k in unknown}, where
        )


@functools.cache
def warn_original_image() -> None:
    """Once per process (executors are rebuilt per task): cache_clear() says it again."""
    log.warning(
        "container_image_uri = %s is covalent-awsbatch-plugin's default image, which cannot "
        "run this executor's tasks: ignored, the runtime image is built instead. Remove the "
        "key from [executors.awsbatch] in covalent.conf (or set it to an image of "
        "'eventbatch image build').",
        ORIGINAL_PLUGIN_IMAGE,
    )


def _as_package_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",")]
    else:
        items = [str(p).strip() for p in value]
    return tuple(p for p in items if p)


def _as_number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidSettingError(name, value, "a number is required")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidSettingError(name, value, "a number is required") from None
    if not math.isfinite(number):
        raise InvalidSettingError(name, value, "a finite number is required")
    return number


def _as_int(name: str, value: Any) -> int:
    number = _as_number(name, value)
    if not number.is_integer():
        raise InvalidSettingError(name, value, "a whole number is required")
    return int(number)


def _validate(s: ExecutorSettings) -> None:
    if s.platform not in PLATFORMS:
        raise InvalidSettingError("platform", s.platform, f"allowed values: {', '.join(PLATFORMS)}")
    if s.vcpu <= 0:
        raise InvalidSettingError("vcpu", s.vcpu, "must be greater than 0")
    if s.memory <= 0:
        raise InvalidSettingError("memory", s.memory, "must be greater than 0 (GiB)")
    if s.num_gpus < 0:
        raise InvalidSettingError("num_gpus", s.num_gpus, "must be 0 or more")
    if not 1 <= s.retry_attempts <= 10:
        raise InvalidSettingError(
            "retry_attempts", s.retry_attempts, "AWS Batch allows 1 to 10 attempts"
        )
    if s.time_limit < 60:
        raise InvalidSettingError(
            "time_limit",
            s.time_limit,
            "AWS Batch's attempt duration is at least 60 seconds; use 60 or more",
        )
    if s.queue_timeout < 0:
        raise InvalidSettingError("queue_timeout", s.queue_timeout, "must be 0 or more seconds")
    if s.poll_freq <= 0:
        raise InvalidSettingError("poll_freq", s.poll_freq, "must be greater than 0 seconds")
    for key in _PRICES:
        if getattr(s, key) < 0:
            raise InvalidSettingError(key, getattr(s, key), "a price is 0 (not set) or more")
    if s.marker_interval <= 0:
        raise InvalidSettingError(
            "marker_interval", s.marker_interval, "must be greater than 0 seconds"
        )
    if not 0 <= s.pack_window <= MAX_PACK_WINDOW:
        raise InvalidSettingError(
            "pack_window",
            s.pack_window,
            f"0 (no packing) to {MAX_PACK_WINDOW} seconds; a fraction of a second suffices",
        )
    if s.platform == "EC2":
        if not float(s.vcpu).is_integer():
            raise InvalidSettingError(
                "vcpu",
                s.vcpu,
                "EC2 jobs take whole vCPUs; use a whole number, or platform='FARGATE' "
                f"for fractional vCPUs ({', '.join(str(v) for v in FARGATE_MEMORY_GIB)})",
            )
        if s.memory_mib < 4:
            raise InvalidSettingError("memory", s.memory, "AWS Batch needs at least 4 MiB")
    else:
        _validate_fargate(s)
    if not _BUCKET.match(s.s3_bucket_name):
        raise InvalidSettingError(
            "s3_bucket_name", s.s3_bucket_name, "not a valid S3 bucket name (3-63 of a-z 0-9 . -)"
        )
    for key in ("batch_job_definition_name", "state_machine_name"):
        if not _NAME.match(getattr(s, key)):
            raise InvalidSettingError(key, getattr(s, key), "1-128 letters, digits, - or _")
    if s.container_image_uri and not _IMAGE_URI.match(s.container_image_uri):
        raise InvalidSettingError(
            "container_image_uri",
            s.container_image_uri,
            "not an image reference like ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG",
        )
    if s.base_image and not _IMAGE_URI.match(s.base_image):
        raise InvalidSettingError(
            "base_image", s.base_image, "not an image reference like python:3.11-slim"
        )
    if s.s3_prefix.startswith("/") or s.s3_prefix.endswith("/"):
        raise InvalidSettingError(
            "s3_prefix", s.s3_prefix, "give it without leading or trailing '/'"
        )


def _validate_fargate(s: ExecutorSettings) -> None:
    if s.num_gpus:
        raise InvalidSettingError(
            "num_gpus", s.num_gpus, "Fargate has no GPUs; use 0, or platform='EC2' with a GPU queue"
        )
    allowed = FARGATE_MEMORY_GIB.get(float(s.vcpu))
    if allowed is None:
        raise InvalidSettingError(
            "vcpu", s.vcpu, f"Fargate allows these vCPU and memory pairs: {fargate_pairs()}"
        )
    low, high, step = allowed
    steps = (s.memory - low) / step
    if not (low <= s.memory <= high and abs(steps - round(steps)) < 1e-9):
        raise InvalidSettingError(
            "memory",
            s.memory,
            f"Fargate with vcpu={_number(s.vcpu)} takes {_number(low)} to {_number(high)} GiB "
            f"in steps of {_number(step)}; set memory (and vcpu) to one of Fargate's pairs: "
            f"{fargate_pairs()}",
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def fargate_pairs() -> str:
    """Fargate's vCPU/memory combinations, as an error message lists them."""
    return "; ".join(
        f"vcpu={_number(vcpu)}: memory {_number(low)}-{_number(high)} GiB (step {_number(step)})"
        for vcpu, (low, high, step) in FARGATE_MEMORY_GIB.items()
    )
