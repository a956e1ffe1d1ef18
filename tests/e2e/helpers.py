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
