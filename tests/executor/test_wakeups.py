"""The wake-up queue: opened per process, woken by the Lambda's sender, fallen back from.

moto's SQS and S3 in this process; the Lambda's side is its real sender (chalice_app/wakeups.py).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time

import psutil
import pytest

from covalent_eventbatch.chalice_app import wakeups as lambda_wakeups
from covalent_eventbatch.executor import names, wakeups
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.markers import MarkerWatcher

BUCKET = "wake-bucket"
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:sm"
HOST = socket.gethostname()


@pytest.fixture
def clients(moto_aws: None) -> AwsClients:
    c = AwsClients(region="us-east-1")
    c.client("s3").create_bucket(Bucket=BUCKET)
    return c


def _queues(clients: AwsClients) -> list[str]:
    listed = clients.client("sqs").list_queues(QueueNamePrefix=names.WAKE_QUEUE_PREFIX)
    return list(listed.get("QueueUrls") or [])


def _watch(watcher: MarkerWatcher, clients: AwsClients, queue: wakeups.WakeQueue, n: int):  # type: ignore[no-untyped-def]
    url = queue.url()
    key = f"p/markers/d/{n}.json"
    future = watcher.watch(
        clients, BUCKET, "p/markers/d/", key, f"x:{n}", SM, 0.2, 3600, queue, url
    )
    return future, {"Bucket": BUCKET, "Key": key, "Wake": url}


def test_the_queue_is_the_processs_own_tagged_with_its_owner(clients: AwsClients) -> None:
    queue = wakeups.WakeQueue(clients)
    url = queue.url()
    assert url is not None and queue.url() == url  # opened once
    name = url.rpartition("/")[2]
    assert name.startswith(names.WAKE_QUEUE_PREFIX) and len(name) <= 80
    sqs = clients.client("sqs")
    tags = sqs.list_queue_tags(QueueUrl=url)["Tags"]
    assert tags[wakeups.OWNER_TAG].startswith(f"{HOST}/{os.getpid()}/")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == "60"
    assert wakeups.owner_is_gone(tags, time.time()) is None  # this process runs
    assert queue.close() and _queues(clients) == []


def test_a_wake_up_resolves_the_task_without_listing(clients: AwsClients) -> None:
    queue, watcher = wakeups.WakeQueue(clients), MarkerWatcher()
    future, location = _watch(watcher, clients, queue, 1)
    other, _ = _watch(watcher, clients, queue, 2)
    doc = {"status": "SUCCEEDED", "job_id": "j-1"}
    # What the Lambda sends after writing the marker; and one for a task nobody here awaits.
    stranger = {**location, "Key": "p/markers/elsewhere/9.json"}
    assert lambda_wakeups.send(clients.client("sqs"), [(location, doc), (stranger, doc)]) == 1
    assert future.result(timeout=10) == doc
    assert watcher.woken == 1 and watcher.listings == 0
    assert not other.done()
    watcher.forget(other)


def test_a_wake_up_without_the_document_reads_the_marker(clients: AwsClients) -> None:
    queue, watcher = wakeups.WakeQueue(clients), MarkerWatcher()
    future, location = _watch(watcher, clients, queue, 3)
    body = json.dumps({"status": "FAILED", "source": "task-finished"})
    clients.client("s3").put_object(Bucket=BUCKET, Key=location["Key"], Body=body)
    lambda_wakeups.send(clients.client("sqs"), [(location, None)])  # "already present"
    assert future.result(timeout=10)["status"] == "FAILED"
    assert watcher.listings == 0


def test_a_deleted_queue_falls_back_to_listing(clients: AwsClients, caplog) -> None:
    queue, watcher = wakeups.WakeQueue(clients), MarkerWatcher()
    future, location = _watch(watcher, clients, queue, 4)
    time.sleep(0.5)
    assert watcher.listings == 0  # its wake-up comes: no listing meanwhile
    clients.client("sqs").delete_queue(QueueUrl=location["Wake"])
    with caplog.at_level(logging.WARNING):
        body = json.dumps({"status": "SUCCEEDED"})
        clients.client("s3").put_object(Bucket=BUCKET, Key=location["Key"], Body=body)
        # The next receive (after the long poll under way, up to 20 s) finds the queue gone.
        assert future.result(timeout=40)["status"] == "SUCCEEDED"
    assert watcher.listings >= 1 and watcher.woken == 0
    assert [r for r in caplog.records if "was deleted" in r.getMessage()]
    assert queue.url() not in (None, location["Wake"])  # new tasks get a new queue


def test_abandoned_queues_are_removed_and_live_ones_kept(clients: AwsClients) -> None:
    sqs = clients.client("sqs")
    now = int(time.time())
    dead = psutil.Popen(["true"])
    dead.wait()
    me = wakeups.owner()

    def make(suffix: str, owner: str, beat: int) -> str:
        tags = {wakeups.OWNER_TAG: owner, wakeups.BEAT_TAG: str(beat)}
        return sqs.create_queue(QueueName=names.WAKE_QUEUE_PREFIX + suffix, tags=tags)["QueueUrl"]

    gone_here = make("a", f"{HOST}/{dead.pid}/{int(dead.create_time())}", now)
    live_here = make("b", me, now - 10 * 3600)  # an old beat, but its process runs
    silent_elsewhere = make("c", "other-host/12/34", now - 2 * 3600)
    beating_elsewhere = make("d", "other-host/56/78", now - 60)
    unrelated = sqs.create_queue(QueueName="someone-elses-queue")["QueueUrl"]

    removed = dict(wakeups.remove_abandoned(clients))
    assert set(removed) == {gone_here, silent_elsewhere}
    assert "has ended" in removed[gone_here] and "heartbeat" in removed[silent_elsewhere]
    left = set(sqs.list_queues()["QueueUrls"])
    assert {live_here, beating_elsewhere, unrelated} <= left


def test_credentials_that_may_not_create_queues_list_instead(moto_aws: None, caplog) -> None:
    from moto.core import set_initial_no_auth_action_count

    # moto checks IAM from the fourth request on: a user whose policy grants S3 only.
    @set_initial_no_auth_action_count(3)
    def s3_only_user() -> AwsClients:
        iam = AwsClients(region="us-east-1").client("iam")
        iam.create_user(UserName="s3-only")
        policy = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
        iam.put_user_policy(
            UserName="s3-only",
            PolicyName="s3",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [policy]}),
        )
        key = iam.create_access_key(UserName="s3-only")["AccessKey"]
        os.environ["AWS_ACCESS_KEY_ID"] = key["AccessKeyId"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
        queue = wakeups.WakeQueue(AwsClients(region="us-east-1"))
        with caplog.at_level(logging.WARNING):
            assert queue.url() is None
            assert queue.url() is None  # not asked again at once, and warned once
        return queue

    s3_only_user()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "sqs:CreateQueue" in warnings[0] and names.WAKE_QUEUE_PREFIX in warnings[0]


def test_the_lambda_wakes_only_wake_up_queues() -> None:
    prefix = "https://sqs.us-east-1.amazonaws.com/123456789012/"
    assert lambda_wakeups.wake_url({"Wake": prefix + names.WAKE_QUEUE_PREFIX + "1-a"})
    assert lambda_wakeups.wake_url({"Wake": prefix + "payroll-queue"}) is None
    assert lambda_wakeups.wake_url({"Wake": 3}) is None
    assert lambda_wakeups.wake_url({}) is None


def test_many_markers_share_few_messages() -> None:
    doc = {"status": "FAILED", "reason": "x" * 900}
    entries = [{"Bucket": "b", "Key": f"p/markers/d/{i}.json", "Marker": doc} for i in range(500)]
    bodies = lambda_wakeups.message_bodies(entries)
    assert 2 <= len(bodies) <= 4
    assert all(len(b) < 256 * 1024 for b in bodies)
    parsed = [w for body in bodies for w in wakeups.parse(body)]
    assert [w.key for w in parsed] == [e["Key"] for e in entries]
    assert all(w.document == doc for w in parsed)
    assert wakeups.parse("not json") == [] and wakeups.parse('{"markers": [7]}') == []
