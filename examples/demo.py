"""A small Covalent workflow whose electrons run on AWS Batch (the local stack under `make demo`).

Four electrons run in parallel, a fifth gathers their results. Nothing here knows about the
local stack: `executor="awsbatch"` takes every setting from covalent.conf. While it waits, it
shows the electrons' progress as `eventbatch status --watch DISPATCH_ID` does.
"""

import os
import time

import covalent as ct

from covalent_eventbatch.dispatchview.cli import watch_dispatch


@ct.electron(executor="awsbatch")
def simulate(seed: int) -> dict:
    import platform
    import random

    rng = random.Random(seed)
    hits = sum(rng.random() ** 2 + rng.random() ** 2 <= 1 for _ in range(200_000))
    print(f"seed {seed}: {hits} hits, Batch job {os.environ.get('AWS_BATCH_JOB_ID', '?')}")
    return {"seed": seed, "pi": 4 * hits / 200_000, "python": platform.python_version()}


@ct.electron(executor="awsbatch")
def combine(estimates: list) -> float:
    return sum(e["pi"] for e in estimates) / len(estimates)


@ct.lattice
def estimate_pi(seeds: list) -> float:
    return combine([simulate(s) for s in seeds])


if __name__ == "__main__":
    started = time.monotonic()
    dispatch_id = ct.dispatch(estimate_pi)([1, 2, 3, 4])
    print(f"dispatched {dispatch_id}; the electrons on AWS Batch:")
    watch_dispatch(dispatch_id, interval=1.0)
    result = ct.get_result(dispatch_id, wait=True)
    elapsed = time.monotonic() - started
    print(f"\nworkflow {result.status} in {elapsed:.1f} s; pi ~ {result.result}")
    print(f"{'node':>4}  {'electron':10} {'status':10} output")
    for node in result.lattice.transport_graph._graph.nodes:
        node_result = result.get_node_result(node)
        name = node_result["node_name"]
        if name.startswith(":"):
            continue  # Covalent's own collection nodes
        output = node_result["output"]
        value = output.get_deserialized() if hasattr(output, "get_deserialized") else output
        out = (node_result["stdout"] or "").strip() or repr(value)
        status = str(node_result["status"]).rsplit(".", 1)[-1]  # StatusEnum.COMPLETED
        print(f"{node:>4}  {name:10} {status:10} {out}")
    if str(result.status) != "COMPLETED":
        raise SystemExit(1)
