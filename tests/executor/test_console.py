"""Console links per partition, and the dispatcher's log line that carries one per electron."""

from __future__ import annotations

import logging

import pytest
from covalent._shared_files.logger import app_log

from covalent_eventbatch.executor import console
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.awsbatch import announce
from covalent_eventbatch.executor.layout import TaskLocation
from covalent_eventbatch.executor.workflow import Execution


@pytest.mark.parametrize(
    ("partition", "region", "host"),
    [
        ("aws", "eu-west-1", "https://console.aws.amazon.com/"),
        ("aws-cn", "cn-north-1", "https://console.amazonaws.cn/"),
        ("aws-us-gov", "us-gov-west-1", "https://console.amazonaws-us-gov.com/"),
    ],
)
def test_links_use_the_partitions_console_and_the_region(
    partition: str, region: str, host: str
) -> None:
    arn = f"arn:{partition}:states:{region}:1:execution:covalent-eventbatch:d-3"
    assert console.execution_url(arn, region, partition) == (
        f"{host}states/home?region={region}#/v2/executions/details/{arn}"
    )
    assert console.job_url("job-1", region, partition) == (
        f"{host}batch/home?region={region}#jobs/detail/job-1"
    )
    assert console.log_stream_url("/aws/batch/job", "covalent/default/abc", region, partition) == (
        f"{host}cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
        "$252Faws$252Fbatch$252Fjob/log-events/covalent$252Fdefault$252Fabc"
    )


def test_each_electron_logs_its_execution_link_at_info() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    app_log.addHandler(handler)
    # setLevel, not the attribute: loggers cache isEnabledFor, and an earlier INFO call at a
    # higher level (the end-to-end tests make some) would stay cached as disabled.
    level = app_log.level
    app_log.setLevel(logging.INFO)
    try:
        clients = AwsClients(region="us-gov-west-1")
        arn = "arn:aws-us-gov:states:us-gov-west-1:1:execution:covalent-eventbatch:d-3"
        announce(TaskLocation("b", "covalent", "d", 3), Execution(arn, "d-3"), clients)
    finally:
        app_log.removeHandler(handler)
        app_log.setLevel(level)
    assert [r.levelno for r in records] == [logging.INFO]
    line = records[0].getMessage()
    assert "dispatch d node 3" in line
    assert line.endswith(console.execution_url(arn, "us-gov-west-1", "aws-us-gov"))
