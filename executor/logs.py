"""The last lines of a Batch job's CloudWatch log stream, for failures the runner could not report.

When the container dies before the runner writes io.json (killed for memory, an import error in
the image, ...), its log stream is the only account of what happened.
"""

from __future__ import annotations

import logging

from botocore.exceptions import ClientError

from .aws import AwsClients

log = logging.getLogger(__name__)

# Where Batch writes container output when a job definition names no awslogs group.
BATCH_DEFAULT_GROUP = "/aws/batch/job"


def tail(clients: AwsClients, group: str, stream: str | None, lines: int = 40) -> str:
    """The stream's last lines from the configured group or Batch's default one; '' if none."""
    if not stream:
        return ""
    logs = clients.client("logs")
    for candidate in dict.fromkeys((group, BATCH_DEFAULT_GROUP)):
        try:
            events = logs.get_log_events(
                logGroupName=candidate, logStreamName=stream, limit=lines, startFromHead=False
            )["events"]
        except logs.exceptions.ResourceNotFoundException:
            continue
        except ClientError as exc:
            log.warning("reading log stream %s/%s failed: %s", candidate, stream, exc)
            return ""
        if events:
            return "\n".join(e["message"] for e in events)
    return ""
