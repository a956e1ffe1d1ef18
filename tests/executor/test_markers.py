"""The process-wide marker watcher: one listing per dispatch per tick, whatever the task count."""

from __future__ import annotations

import json
import time

import pytest

from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.markers import MarkerWatcher

BUCKET = "watch-bucket"
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:sm"


@pytest.fixture
def clients(moto_aws: None) -> AwsClients:
    c = AwsClients(region="us-east-1")
    c.client("s3").create_bucket(Bucket=BUCKET)
    return c


def _put(clients: AwsClients, key: str, status: str = "SUCCEEDED") -> None:
    clients.client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"status": status}))


def test_fifty_waits_cost_one_listing_per_tick(clients: AwsClients) -> None:
    watcher = MarkerWatcher()
    futures = [
        watcher.watch(
            clients,
            BUCKET,
            "p/markers/d1/",
            f"p/markers/d1/{i}.json",
            f"arn:exec:{i}",
            SM,
            interval=0.2,
            sweep_interval=3600,
        )
        for i in range(50)
    ]
    time.sleep(1.0)
    listings_while_waiting = watcher.listings
    # About five ticks in a second: one listing each, not fifty.
    assert 2 <= listings_while_waiting <= 8
    assert not any(f.done() for f in futures)

    for i in range(0, 50, 2):
        _put(clients, f"p/markers/d1/{i}.json", "FAILED" if i == 10 else "SUCCEEDED")
    for i in range(0, 50, 2):
        assert futures[i].result(timeout=5)["status"] == ("FAILED" if i == 10 else "SUCCEEDED")
    assert not futures[1].done()
    for i in range(1, 50, 2):
        _put(clients, f"p/markers/d1/{i}.json")
    assert all(f.result(timeout=5)["status"] == "SUCCEEDED" for f in futures[1::2])


def test_two_dispatches_are_listed_separately(clients: AwsClients) -> None:
    watcher = MarkerWatcher()
    a = watcher.watch(clients, BUCKET, "p/markers/a/", "p/markers/a/1.json", "x", SM, 0.1, 3600)
    b = watcher.watch(clients, BUCKET, "p/markers/b/", "p/markers/b/1.json", "y", SM, 0.1, 3600)
    _put(clients, "p/markers/b/1.json")
    assert b.result(timeout=5)["status"] == "SUCCEEDED"
    assert not a.done()
    watcher.forget(a)
