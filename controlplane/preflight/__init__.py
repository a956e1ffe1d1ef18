"""What AWS would refuse, found before CloudFormation starts, each with the parameter to change.

A CloudFormation create that fails half way leaves a stack in ROLLBACK_COMPLETE (which can only
be deleted) and, for a bucket kept on delete, a bucket; the reasons come back one resource at a
time. So ``eventbatch deploy`` checks first, with read calls only:

- every parameter against the template's own constraints and AWS's naming rules, and the
  parameters against each other (a compute environment needs subnets and security groups, ...);
- the stack's state (busy, or failed in a way that needs a hand);
- that no name given for a resource to create is taken (HeadBucket, DescribeRepositories,
  GetRole, DescribeLogGroups, DescribeStateMachine, DescribeJobQueues), unless this stack owns
  it, and that every existing resource named for reuse exists (and is in the stack's region);
- the subnets and security groups of a compute environment;
- the capabilities the template needs, as CloudFormation's ValidateTemplate reports them.

A check the caller may not make (AccessDenied) is reported as not checked and does not stop the
deploy: CloudFormation will still say.

One module per kind of check: ``parameters``, ``stack`` (its state), ``account`` (the read calls),
``capabilities`` (the template's); ``problems`` is what they report.
"""

from .account import MISSING, check_account
from .capabilities import (
    CAPABILITY_AUTO_EXPAND,
    CAPABILITY_IAM,
    CAPABILITY_NAMED_IAM,
    check_template,
    required_capabilities,
)
from .parameters import (
    check_artifact_bucket,
    check_given,
    check_parameters,
    check_stack_name,
    check_stack_name_fits,
    effective_parameters,
)
from .problems import Problem, Say, stop_if
from .stack import REPLACEABLE, StackState, read_stack

__all__ = [
    "check_artifact_bucket",
    "check_given",
    "CAPABILITY_AUTO_EXPAND",
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "MISSING",
    "REPLACEABLE",
    "Problem",
    "Say",
    "StackState",
    "check_account",
    "check_parameters",
    "check_stack_name",
    "check_stack_name_fits",
    "check_template",
    "effective_parameters",
    "read_stack",
    "required_capabilities",
    "stop_if",
]
