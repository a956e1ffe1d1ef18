"""Reading a Covalent result in tests."""

from __future__ import annotations

from typing import Any


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
