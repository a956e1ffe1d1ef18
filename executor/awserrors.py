"""One classification of AWS errors, for the executor, the CLI commands, the doctor and preflight.

Every caller asks the same question of a failed call: was it refused (denied), is the thing not
there (missing), is AWS asking us to slow down (throttled), could the endpoint not be reached or
did it not answer (unreachable), or are there no usable credentials? The error codes behind each
answer differ per service (S3 says ``NoSuchBucket`` or a bare ``404`` for a HEAD request, Step
Functions ``StateMachineDoesNotExist``, ...); they are listed here once.

Standard library and botocore only.
"""

from __future__ import annotations

import enum

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)


class Kind(str, enum.Enum):
    DENIED = "denied"
    MISSING = "missing"
    THROTTLED = "throttled"
    UNREACHABLE = "unreachable"
    NO_CREDENTIALS = "no credentials"
    NO_REGION = "no region"
    SERVER = "server error"
    OTHER = "other"


# HTTP 403 comes bare from HEAD requests (S3 HeadBucket/HeadObject), which have no error body.
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "403"}
)
# Credentials that exist but are not accepted: for the user the same fix as having none.
BAD_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "InvalidToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
MISSING_CODES = frozenset(
    {
        "404",
        "NotFound",
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchEntity",
        "ResourceNotFoundException",
        "StateMachineDoesNotExist",
        "ExecutionDoesNotExist",
        "RepositoryNotFoundException",
        "ImageNotFoundException",
        "LogGroupNotFound",
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    }
)
# The codes botocore's standard retry mode treats as throttling, plus S3's SlowDown.
THROTTLED_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError (``""`` for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "") or "")
    return ""


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", "") or "")
    return str(exc)


def classify(exc: BaseException) -> Kind:
    """Which of the kinds above an exception raised by a boto3 call is."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in DENIED_CODES:
            return Kind.DENIED
        if code in BAD_CREDENTIAL_CODES:
            return Kind.NO_CREDENTIALS
        if code in MISSING_CODES:
            return Kind.MISSING
        if code in THROTTLED_CODES:
            return Kind.THROTTLED
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int) and status >= 500:
            return Kind.SERVER
        return Kind.OTHER
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, ProfileNotFound)):
        return Kind.NO_CREDENTIALS
    if isinstance(exc, CredentialRetrievalError):
        return Kind.NO_CREDENTIALS
    if isinstance(exc, NoRegionError):
        return Kind.NO_REGION
    # EndpointConnectionError, ConnectTimeoutError (ConnectionError); ReadTimeoutError,
    # ConnectionClosedError (HTTPClientError): no answer came back.
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return Kind.UNREACHABLE
    return Kind.OTHER


def is_denied(exc: BaseException) -> bool:
    return classify(exc) is Kind.DENIED


def is_missing(exc: BaseException) -> bool:
    return classify(exc) is Kind.MISSING


def is_throttled(exc: BaseException) -> bool:
    return classify(exc) is Kind.THROTTLED


def is_aws_error(exc: BaseException) -> bool:
    """Raised by botocore (a refused call, or one that never got an answer)."""
    return isinstance(exc, (ClientError, BotoCoreError))
