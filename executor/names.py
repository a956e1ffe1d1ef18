"""What the product's AWS resources are called by default, and every ARN built from a name.

``layout.py`` names each S3 key; this module names the rest. ARNs take the partition as an input
(``aws``, ``aws-cn``, ``aws-us-gov``, ...), never a literal ``arn:aws``. The Lambda (chalice_app/)
ships alone and repeats the state machine's default name; a test keeps the two equal.

Standard library and botocore only.
"""

from __future__ import annotations

import functools

import botocore.session

# The product's name: the default state machine and stack, the Lambda app, the "application" tag.
PRODUCT = "covalent-eventbatch"
APPLICATION_TAG = {"application": PRODUCT}

# Defaults of the [executors.awsbatch] settings that name resources (the original plugin's).
DEFAULT_BUCKET = "covalent-batch-job-resources"
DEFAULT_PREFIX = "covalent"
DEFAULT_REPOSITORY = "covalent-batch-job-images"
DEFAULT_JOB_DEFINITION = "covalent-batch-jobs"
DEFAULT_QUEUE = "covalent-batch-queue"
DEFAULT_LOG_GROUP = "covalent-batch-job-logs"
DEFAULT_STATE_MACHINE = PRODUCT
DEFAULT_STACK = PRODUCT
# Each dispatcher process's wake-up queue (executor/wakeups.py) is named with this prefix: the
# executor's policy may create and delete, and the Lambda send to, only queues so named.
WAKE_QUEUE_PREFIX = f"{PRODUCT}-wake-"


def arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    """arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (region empty for global services)."""
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def bucket_arn(partition: str, bucket: str) -> str:
    return arn(partition, "s3", "", "", bucket)


def role_arn(partition: str, account: str, name: str) -> str:
    return arn(partition, "iam", "", account, f"role/{name}")


def repository_arn(partition: str, region: str, account: str, name: str) -> str:
    return arn(partition, "ecr", region, account, f"repository/{name}")


def state_machine_arn(partition: str, region: str, account: str, name: str) -> str:
    return arn(partition, "states", region, account, f"stateMachine:{name}")


def queue_arn(partition: str, region: str, account: str, name: str) -> str:
    return arn(partition, "sqs", region, account, name)


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:P:states:R:A:stateMachine:M + name -> arn:P:states:R:A:execution:M:name."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


@functools.lru_cache(maxsize=64)
def partition_of(region: str) -> str:
    """The partition a region belongs to (botocore's endpoint data): us-east-1 -> aws."""
    return str(botocore.session.get_session().get_partition_for_region(region))
