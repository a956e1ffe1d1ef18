"""The relay hands queued events to a handler and, like Lambda, retries the ones that fail."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest

from covalent_eventbatch.localaws.relay import relay


@pytest.fixture
def sqs(moto_aws: None) -> Any:
    return boto3.client("sqs")


def test_failed_delivery_is_retried_then_removed(sqs: Any) -> None:
    queue = sqs.create_queue(QueueName="events", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    event = {"source": "covalent.eventbatch", "detail-type": "Task Finished", "detail": {"n": 1}}
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
    calls: list[dict] = []
    delivered = threading.Event()

    def handler(received: dict, context: Any) -> dict:
        calls.append(received)
        if len(calls) == 1:
            raise RuntimeError("S3 is down")
        delivered.set()
        return {"ok": True}

    stop = threading.Event()
    worker = threading.Thread(target=relay, args=(queue, stop, {"*": handler}, sqs, 1))
    worker.start()
    try:
        assert delivered.wait(15), "the failed event never came back"
    finally:
        stop.set()
        worker.join(10)
    assert len(calls) == 2
    assert calls[1]["detail"] == {"n": 1}
    assert calls[1]["account"]  # the envelope field moto's SQS target leaves out
    time.sleep(1.5)
    left = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "0"
    assert left["ApproximateNumberOfMessagesNotVisible"] == "0"
