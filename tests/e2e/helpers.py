"""Reading a Covalent result, and waiting for an execution to end, in tests."""

from __future__ import annotations

import time
from typing import Any


def execution_ended(aws: Any, execution_arn: str, timeout_s: float = 60) -> dict[str, Any]:
    """DescribeExecution once it is no longer RUNNING: an electron may complete first (its
    container announces it before Step Functions sees the job end)."""
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + timeout_s
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{execution_arn} still running"
        time.sleep(0.5)
    return dict(described)


def node_results(result: Any) -> list[dict]:
    return [result.get_node_result(n) for n in result.lattice.transport_graph._graph.nodes]


def explain(result: Any) -> str:
    """Every node's status, error and stderr: the message a failing assertion should show."""
    lines = [f"dispatch {result.dispatch_id}: {result.status}"]
    for node in node_results(result):
        lines.append(
            f"  node {node['node_id']} {node['node_name']}: {node['status']} "
            f"error={node['error']!r} stderr={(node['stderr'] or '')[:2000]!r}"
        )
    return "\n".join(lines)


def run(lattice: Any, *args: Any, **kwargs: Any) -> Any:
    """Dispatch to the test dispatcher and wait for the result."""
    import covalent as ct

    dispatch_id = ct.dispatch(lattice)(*args, **kwargs)
    return ct.get_result(dispatch_id, wait=True)


def electron_nodes(result: Any, name: str) -> list[dict]:
    return [n for n in node_results(result) if n["node_name"] == name]


def marker(
    aws: Any, dispatch_id: str, node_id: int, bucket: str = "covalent-eventbatch-local"
) -> dict:
    import json

    body = aws.client("s3").get_object(
        Bucket=bucket, Key=f"covalent/markers/{dispatch_id}/{node_id}.json"
    )
    return dict(json.loads(body["Body"].read()))
