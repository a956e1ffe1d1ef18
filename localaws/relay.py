"""The relay: EventBridge's stand-in for invoking the Lambda, on the local stack.

moto's EventBridge cannot target a Lambda, so its rules send events to an SQS queue; this process
long-polls that queue and calls the Chalice handler with each event, exactly as Lambda would
(the same deployed code, an event dict and a context). Like Lambda's asynchronous invocation, a
handler that raises leaves the message on the queue, to come back after the visibility timeout.

Run as ``python -m localaws.relay QUEUE_URL`` with AWS_ENDPOINT_URL pointing at moto. With
``EVENTBATCH_LAMBDA_ROLE_ARN`` set, the handlers call AWS with that role's temporary credentials
(in the environment, as Lambda gives a function its role's), while the relay's own SQS calls keep
the credentials it was started with.
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3

log = logging.getLogger("eventbatch.relay")
ROLE_ENV = "EVENTBATCH_LAMBDA_ROLE_ARN"
TIMEOUT_S = 30


class LambdaContext:
    """The attributes a Lambda context has that Chalice handlers read."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 128
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local-relay"
        self._deadline = time.monotonic() + TIMEOUT_S

    def get_remaining_time_in_millis(self) -> int:
        # The deployed function's timeout (.chalice/config.json), counting down as on Lambda.
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _handlers() -> dict[str, Any]:
    """The handlers of the Chalice project ``eventbatch deploy`` packages, imported as Lambda does.

    The project is built from the installed package (``controlplane.chalice_project``) into a
    folder of its own: its ``app.py`` entry point, with ``vendor/`` on the path as Chalice puts
    it at the zip's root. No checkout is needed, and the code is the deployed code.
    """
    from covalent_eventbatch.controlplane import chalice_project

    project = Path(tempfile.mkdtemp(prefix="eventbatch-relay-"))
    atexit.register(shutil.rmtree, project, True)
    chalice_project.build(project)
    sys.path[:0] = [str(project), str(project / "vendor")]
    app = importlib.import_module("app")
    log.info("handlers from %s (entry point %s)", project, app.__file__)
    return {
        "aws.states": app.on_execution_status,
        "*": app.on_task_finished,
    }


def deliver(message_body: str, handlers: dict[str, Any], account: str) -> Any:
    event = json.loads(message_body)
    # moto's SQS target drops the envelope's "account", which EventBridge always sets.
    event.setdefault("account", account)
    handler = handlers.get(event.get("source"), handlers["*"])
    return handler(event, LambdaContext(getattr(handler, "__name__", "handler")))


def relay(
    queue_url: str,
    stop: threading.Event,
    handlers: dict[str, Any] | None = None,
    sqs: Any = None,
    wait_s: int = 5,
) -> None:
    # A session of the relay's own: the default session, which the handlers' clients use, would
    # keep the first credentials it resolved.
    own = boto3.session.Session()
    sqs = sqs or own.client("sqs")
    sts = own.client("sts")
    account = sts.get_caller_identity()["Account"]
    handlers = handlers or _handlers()
    role_arn = os.environ.get(ROLE_ENV)
    if role_arn:
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="relay")["Credentials"]
        os.environ.update(
            AWS_ACCESS_KEY_ID=credentials["AccessKeyId"],
            AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
            AWS_SESSION_TOKEN=credentials["SessionToken"],
        )
    while not stop.is_set():
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
        )
        for message in received.get("Messages", []):
            try:
                result = deliver(message["Body"], handlers, account)
            except Exception:
                log.exception("handler failed; the event stays queued for a retry")
                continue
            log.info("delivered: %s", result)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    relay(sys.argv[1], stop)


if __name__ == "__main__":
    main()
