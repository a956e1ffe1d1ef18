"""A deployed stack's event rules, delivered to its handlers through the local stack's relay.

moto's EventBridge cannot deliver to a Lambda target (PutEvents fails with a 500 while such a
rule matches), so the stack's two rules are pointed at an SQS queue drained by a relay that runs
the packaged handlers with the deployed functions' environment: the rules' patterns and the
handlers' filter are the deployed ones, only the delivery differs.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def relayed_rules(
    aws: Any,
    stack: str,
    endpoint_url: str,
    python: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[dict[str, str]]:
    """Rewire the stack's rules to a queue and run ``python -m ...relay`` on it.

    Yields the deployed functions' environment.
    """
    sqs, events = aws.client("sqs"), aws.client("events")
    queue_url = sqs.create_queue(QueueName=f"{stack}-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    functions = {f["FunctionArn"]: f for f in aws.client("lambda").list_functions()["Functions"]}
    environment: dict[str, str] = {}
    roles = set()
    for rule in events.list_rules(NamePrefix=stack)["Rules"]:
        (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        environment.update(functions[target["Arn"]]["Environment"]["Variables"])
        roles.add(functions[target["Arn"]]["Role"])
        events.remove_targets(Rule=rule["Name"], Ids=[target["Id"]])
        events.put_targets(Rule=rule["Name"], Targets=[{"Id": "relay", "Arn": queue_arn}])
    relay_env = dict(
        env or os.environ,
        **environment,
        # The handlers call as a deployed function's role (both roles get the same policy).
        EVENTBATCH_LAMBDA_ROLE_ARN=sorted(roles)[0],
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    relay = subprocess.Popen(
        [python, "-m", "covalent_eventbatch.localaws.relay", queue_url],
        env=relay_env,
        stdout=output,
        stderr=output,
    )
    try:
        yield environment
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=30)
        if log:
            output.close()  # type: ignore[union-attr]
