"""write_once: the If-None-Match header on the wire, and S3's two "already taken" answers.

S3 answers 412 PreconditionFailed when the key exists and 409 ConditionalRequestConflict when a
concurrent conditional write to it is in flight (https://docs.aws.amazon.com/AmazonS3/latest/
userguide/conditional-writes.html). moto only gives the first, so the wire is stubbed here with a
``before-send`` handler returning S3's documented error document; botocore parses it as usual.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from covalent_eventbatch.chalice_app.markers import write_once

LOCATION = {"Bucket": "b", "Key": "covalent/markers/d/1.json"}


class _Wire:
    """Answers every request with one status and S3 error code, and keeps the requests."""

    def __init__(self, status: int, code: str = "") -> None:
        self.status, self.code, self.requests = status, code, []  # type: ignore[var-annotated]

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        self.requests.append(request)
        body = b""
        if self.code:
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{self.code}</Code>"
                "<Message>m</Message><RequestId>r</RequestId></Error>"
            ).encode()

        class Raw:
            def stream(self, **_: Any) -> Any:
                yield body

        return AWSResponse(request.url, self.status, {}, Raw())


def _client(wire: _Wire) -> Any:
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    s3.meta.events.register("before-send.s3.PutObject", wire)
    return s3


def test_the_header_is_sent_once_and_signed() -> None:
    wire = _Wire(200)
    s3 = _client(wire)
    assert write_once(s3, LOCATION, {"status": "SUCCEEDED"}) is True
    assert write_once(s3, LOCATION, {"status": "SUCCEEDED"}) is True  # registering is idempotent
    for request in wire.requests:
        headers = [(k.lower(), _text(v)) for k, v in request.headers.items()]
        assert [v for k, v in headers if k == "if-none-match"] == ["*"]
        authorization = dict(headers)["authorization"]
        assert "if-none-match" in authorization.split("SignedHeaders=")[1].split(",")[0]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_other_put_objects_of_the_client_stay_unconditional() -> None:
    wire = _Wire(200)
    s3 = _client(wire)
    write_once(s3, LOCATION, {"status": "SUCCEEDED"})
    s3.put_object(Bucket="b", Key="covalent/tasks/d/1/task.pkl", Body=b"x")
    assert "If-None-Match" not in wire.requests[-1].headers


@pytest.mark.parametrize(
    "status, code", [(412, "PreconditionFailed"), (409, "ConditionalRequestConflict")]
)
def test_a_taken_key_is_not_an_error(status: int, code: str) -> None:
    assert write_once(_client(_Wire(status, code)), LOCATION, {"status": "FAILED"}) is False


def test_other_errors_raise_so_the_invocation_is_retried() -> None:
    s3 = _client(_Wire(403, "AccessDenied"))
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        write_once(s3, LOCATION, {"status": "FAILED"})
