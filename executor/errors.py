"""Exceptions of the executor, each saying what failed, which setting or resource, and the fix.

Every message is meant to be read by a Covalent user in the electron's error: it names the
`[executors.awsbatch]` key (or the AWS resource) involved and how to put it right. AWS error codes
are kept in the text so that they can be searched for.
"""

from __future__ import annotations


class EventBatchError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidSettingError(EventBatchError, ValueError):
    """A setting has a value AWS Batch (or this executor) cannot use."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key = key
        self.value = value
        super().__init__(
            f"Invalid executor setting {key}={value!r}: {allowed}. "
            f"Set '{key}' in the [executors.awsbatch] section of covalent.conf "
            "or pass it to AWSBatchExecutor(...)."
        )


class UnknownSettingError(InvalidSettingError):
    """A setting this executor does not have: a misspelt key, most likely."""

    def __init__(self, unknown: dict[str, str | None], where: str) -> None:
        """``unknown``: each unknown key -> the closest valid key, or None when none is close."""
        self.key = next(iter(unknown))
        self.value = None
        self.unknown = unknown
        hints = [
            f"{key}: did you mean {close}?" if close else f"{key}: no such setting"
            for key, close in unknown.items()
        ]
        plural = "s" if len(unknown) > 1 else ""
        EventBatchError.__init__(
            self,
            f"Unknown executor setting{plural} {where}: {'; '.join(hints)} "
            "Rename or remove it; the settings are listed in the README's Settings section.",
        )


class AwsSetupError(EventBatchError):
    """An AWS resource the executor needs is missing, unreachable or not allowed."""


class TaskSerializationError(EventBatchError):
    """The task's function or arguments cannot be pickled for the Batch container."""


class ImageError(EventBatchError):
    """The runtime image could not be built or pushed."""


class TaskFailedError(EventBatchError):
    """The task ran (or was meant to run) on AWS Batch and did not succeed."""


class WaitTimeoutError(EventBatchError):
    """The executor stopped waiting for a task's completion marker."""
