"""Run one aws-sdk:batch:registerJobDefinition state through moto's interpreter; print the outcome.

Usage: python -m tests.localaws.issue_10076_probe patched|unpatched
"""

import json
import os
import sys
import time

os.environ.update(
    AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
)
import boto3
from moto import mock_aws

if sys.argv[1] == "patched":
    from covalent_eventbatch.localaws import moto_compat

    assert moto_compat.apply()
definition = {
    "StartAt": "Register",
    "States": {
        "Register": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:batch:registerJobDefinition",
            "Parameters": {
                "JobDefinitionName": "probe",
                "Type": "container",
                "ContainerProperties": {
                    "Image": "busybox",
                    "Command": ["true"],
                    "ResourceRequirements": [
                        {"Type": "VCPU", "Value": "1"},
                        {"Type": "MEMORY", "Value": "64"},
                    ],
                },
            },
            "End": True,
        }
    },
}
with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="probe",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    run = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    for _ in range(100):
        described = sfn.describe_execution(executionArn=run)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.1)
    defs = boto3.client("batch").describe_job_definitions(jobDefinitionName="probe")[
        "jobDefinitions"
    ]
    print(
        json.dumps(
            {
                "status": described["status"],
                "cause": described.get("cause", ""),
                "output": described.get("output", ""),
                "registered": len(defs),
            }
        )
    )
