"""AWS console links to a task's execution, Batch job and log stream, for its region and partition.

The console has one host per partition; the region travels as a query parameter. CloudWatch's
log pages take the group and stream names encoded twice with ``%`` written as ``$``.
"""

from __future__ import annotations

from urllib.parse import quote

CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def _home(service: str, region: str, partition: str) -> str:
    host = CONSOLE_HOSTS.get(partition, CONSOLE_HOSTS["aws"])
    return f"https://{host}/{service}/home?region={region}"


def execution_url(execution_arn: str, region: str, partition: str = "aws") -> str:
    return f"{_home('states', region, partition)}#/v2/executions/details/{execution_arn}"


def job_url(job_id: str, region: str, partition: str = "aws") -> str:
    return f"{_home('batch', region, partition)}#jobs/detail/{job_id}"


def _log_name(name: str) -> str:
    return quote(quote(name, safe=""), safe="").replace("%", "$")


def log_stream_url(group: str, stream: str, region: str, partition: str = "aws") -> str:
    return (
        f"{_home('cloudwatch', region, partition)}#logsV2:log-groups/log-group/"
        f"{_log_name(group)}/log-events/{_log_name(stream)}"
    )
