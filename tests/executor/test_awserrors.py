"""The one classification of AWS errors, on the exceptions botocore really raises."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from covalent_eventbatch.executor.awserrors import Kind, classify, error_code, is_denied


def _client_error(code: str, status: int = 400) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "Op")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("AccessDenied", Kind.DENIED),
        ("AccessDeniedException", Kind.DENIED),
        ("403", Kind.DENIED),
        ("NoSuchBucket", Kind.MISSING),
        ("404", Kind.MISSING),
        ("StateMachineDoesNotExist", Kind.MISSING),
        ("ThrottlingException", Kind.THROTTLED),
        ("SlowDown", Kind.THROTTLED),
        ("TooManyRequestsException", Kind.THROTTLED),
        ("InvalidClientTokenId", Kind.NO_CREDENTIALS),
        ("ExpiredToken", Kind.NO_CREDENTIALS),
        ("ValidationException", Kind.OTHER),
    ],
)
def test_client_error_codes(code: str, kind: Kind) -> None:
    assert classify(_client_error(code)) is kind
    assert error_code(_client_error(code)) == code


def test_unknown_code_with_5xx_is_a_server_error() -> None:
    assert classify(_client_error("InternalFailure", 500)) is Kind.SERVER


def test_transport_and_credential_errors() -> None:
    assert classify(EndpointConnectionError(endpoint_url="http://x")) is Kind.UNREACHABLE
    assert classify(ConnectTimeoutError(endpoint_url="http://x")) is Kind.UNREACHABLE
    assert classify(ReadTimeoutError(endpoint_url="http://x")) is Kind.UNREACHABLE
    assert classify(NoCredentialsError()) is Kind.NO_CREDENTIALS
    assert classify(ProfileNotFound(profile="p")) is Kind.NO_CREDENTIALS
    assert classify(ValueError("x")) is Kind.OTHER


def test_a_real_refused_connection_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(Exception) as caught:
        s3.list_buckets()
    assert classify(caught.value) is Kind.UNREACHABLE
    assert not is_denied(caught.value)


def test_no_part_reads_an_error_code_by_hand() -> None:
    """Outside the classification, codes are read through it or caught as modelled exceptions.

    The Lambda ships alone (without the executor) and may read a code for its own log line.
    """
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    parts = ("executor", "controlplane", "dispatchview", "localaws", "statemachine", "container")
    offending = [
        f"{path.relative_to(root)}:{number}"
        for part in parts
        for path in sorted((root / part).rglob("*.py"))
        if path.name != "awserrors.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if '.response["Error"]' in line or '.response.get("Error"' in line
    ]
    assert offending == []
