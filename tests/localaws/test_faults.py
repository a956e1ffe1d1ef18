"""The fault proxy's answers are what botocore takes for throttling and server errors."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.parsers import create_parser

from covalent_eventbatch.localaws.faults import throttling


@pytest.mark.parametrize(
    ("service", "operation", "target", "code"),
    [
        ("s3", "GetObject", "", "SlowDown"),
        (
            "stepfunctions",
            "StartExecution",
            "AWSStepFunctions.StartExecution",
            "ThrottlingException",
        ),
        ("batch", "DescribeJobs", "", "TooManyRequestsException"),
        ("sts", "GetCallerIdentity", "", "Throttling"),
    ],
)
def test_throttling_answers_parse_as_each_services_throttling(service, operation, target, code):  # type: ignore[no-untyped-def]
    from botocore.retries import standard

    model = botocore.session.get_session().get_service_model(service)
    headers = {"X-Amz-Target": target} if target else {}
    status, answer_headers, body = throttling(service, headers)
    parsed = create_parser(model.metadata["protocol"]).parse(
        {"status_code": status, "headers": answer_headers, "body": body},
        model.operation_model(operation).output_shape,
    )
    assert parsed["Error"]["Code"] == code
    # botocore's standard retry mode, which the executor uses, retries it as throttling.
    checker = standard.ThrottledRetryableChecker()
    context = standard.RetryContext(
        attempt_number=1,
        operation_model=model.operation_model(operation),
        parsed_response=parsed,
        http_response=None,
    )
    assert checker.is_retryable(context)
