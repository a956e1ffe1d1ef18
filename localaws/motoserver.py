"""The moto server process of the local stack: ``python -m localaws.motoserver PORT``.

Runs moto in-process with Step Functions execution enabled and the compatibility patches applied,
Batch jobs as Docker containers on the host network (so they reach moto on 127.0.0.1), as many at
once as the machine's slots allow (``moto_capacity``), the state machine and the job containers
calling with their roles' credentials (``identities``), and, when ``EVENTBATCH_CALL_LOG`` names a
file, every request recorded with its caller.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def serve(port: int) -> None:
    # Read by moto at call time: the interpreter's own clients and the job containers use them.
    os.environ["MOTO_PORT"] = str(port)
    os.environ.setdefault("MOTO_DOCKER_NETWORK_MODE", "host")
    from moto.core.config import default_user_config
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from covalent_eventbatch.localaws import (
        callrecorder,
        identities,
        moto_batch,
        moto_capacity,
        moto_cfn,
        moto_compat,
        moto_retries,
    )

    if not (moto_compat.apply() and moto_compat.apply_array_jobs()):
        print(
            f"warning: moto is not {moto_compat.PATCHED_MOTO_VERSION}; the Step Functions and "
            "Batch array job compatibility patches were not applied",
            file=sys.stderr,
        )
    slots = moto_capacity.machine_slots()
    if moto_capacity.apply(slots):  # before moto_batch and moto_retries: it wraps each attempt
        print(
            f"Batch runs at most {slots} job containers at once ({moto_capacity.SLOTS_ENV})",
            flush=True,
        )
    else:
        print(
            f"warning: moto is not {moto_capacity.PATCHED_MOTO_VERSION}; Batch starts every job "
            "at once, whatever the compute environment's capacity",
            file=sys.stderr,
        )
    if not moto_batch.apply():
        print(
            f"warning: moto is not {moto_batch.PATCHED_MOTO_VERSION}; Batch jobs report no "
            "requested resources and their logs arrive only when they end",
            file=sys.stderr,
        )
    if not moto_retries.apply():  # after moto_batch: each attempt forwards its own logs
        print(
            f"warning: moto is not {moto_retries.PATCHED_MOTO_VERSION}; Batch jobs run once, "
            "whatever their RetryStrategy",
            file=sys.stderr,
        )
    default_user_config["stepfunctions"]["execute_state_machine"] = True
    moto_cfn.apply()  # stacks' state machines on the executing backend (eventbatch deploy)
    identities.apply()  # the state machine and job containers call as their roles
    callrecorder.apply()  # who called what, when $EVENTBATCH_CALL_LOG names a file (tests)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(f"moto server listening on 127.0.0.1:{port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
