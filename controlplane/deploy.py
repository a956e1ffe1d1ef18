"""``eventbatch deploy``: package the control plane with Chalice and deploy it with CloudFormation.

The steps an operator would otherwise run by hand, in order:

0. ``preflight``: every check that needs no packaging, before anything is made (parameters,
   the stack's state, names taken, existing resources, network);
1. ``chalice package --merge-template`` -> one SAM template and the Lambda's ``deployment.zip``,
   run in a Chalice project built from the installed package (``chalice_project``: no checkout
   needed); the merge template is rendered fresh from ``controlplane.template``, so it always
   matches the code;
2. the zip (and the template, when too large to send inline) go to an artifacts bucket, created
   encrypted and private when missing;
3. ValidateTemplate (the capabilities it needs), then CreateStack or UpdateStack, waiting for
   the end, with the failing resources' reasons on error. A stack left in ROLLBACK_COMPLETE by a
   failed create is deleted first (CloudFormation can only delete it); a failed create deletes
   even the bucket it made (RetainExceptOnCreate), so nothing of it blocks the next attempt;
4. the stack's Outputs, as the ``[executors.awsbatch]`` section they map to.

An endpoint without the SAM transform (the local stack's moto) gets the template transformed
here with ``aws-sam-translator`` (``transform_locally``); AWS transforms it itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from covalent_eventbatch.chalice_app.runtime import LAMBDA_RUNTIME
from covalent_eventbatch.executor import names
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.awserrors import error_message, is_denied, is_missing

from . import chalice_project, preflight, stackevents
from . import template as control_plane
from .errors import DeployError

DEFAULT_STACK = names.DEFAULT_STACK
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_INLINE_TEMPLATE_LIMIT = 51_200  # bytes CloudFormation accepts as TemplateBody

Say = Callable[[str], None]

__all__ = ["DeployError", "deploy", "package"]


@dataclass(frozen=True)
class Package:
    template: dict[str, Any]
    zip_path: Path
    out_dir: Path


def _chalice() -> str:
    found = Path(sys.executable).parent / "chalice"
    if found.exists():
        return str(found)
    raise DeployError(
        "The 'chalice' command is not installed next to this Python: install the plugin with its "
        "'deploy' extra (pip install 'WHEEL[deploy]'; see 'Installing from a wheel' in the "
        "README)."
    )


def package(out_dir: Path, region: str, stage: str = "dev") -> Package:
    """Run ``chalice package`` with the control plane merged in; return the template and zip.

    The Chalice project is built from the installed package under ``out_dir/project``.
    """
    out_dir = out_dir.resolve()  # chalice runs in the project folder
    out_dir.mkdir(parents=True, exist_ok=True)
    project = chalice_project.build(out_dir / "project")
    merge = out_dir / "control-plane.json"
    merge.write_text(control_plane.render())
    target = out_dir / "package"
    env = dict(os.environ, AWS_DEFAULT_REGION=region)
    done = subprocess.run(
        [_chalice(), "package", "--stage", stage, "--merge-template", str(merge), str(target)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise DeployError(f"chalice package failed:\n{done.stdout}{done.stderr}")
    template = json.loads((target / "sam.json").read_text())
    check_lambda_package(template, target / "deployment.zip")
    return Package(template=template, zip_path=target / "deployment.zip", out_dir=target)


def check_lambda_package(template: dict[str, Any], zip_path: Path) -> None:
    """Refuse a package AWS would not run: a runtime it no longer creates, or compiled code.

    Chalice builds the zip for the packaging interpreter; the functions run on ``LAMBDA_RUNTIME``,
    so the bundle must stay pure Python (requirements.txt: pure-Python packages only).
    """
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        runtime = resource.get("Properties", {}).get("Runtime")
        if runtime != LAMBDA_RUNTIME:
            raise DeployError(
                f"The packaged function {name} has runtime {runtime!r}, not {LAMBDA_RUNTIME}: "
                "the merge template (controlplane/template.py) no longer sets it. AWS does not "
                "create functions with retired runtimes."
            )
    with zipfile.ZipFile(zip_path) as z:
        # Extension modules only: a stray .pyc of another Python is ignored by the runtime.
        compiled = [n for n in z.namelist() if n.endswith((".so", ".pyd")) or ".so." in n]
    if compiled:
        raise DeployError(
            f"The Lambda bundle holds compiled files built for this Python, not {LAMBDA_RUNTIME}: "
            f"{', '.join(compiled[:5])}. Keep requirements.txt to pure-Python packages."
        )


def transform_locally(template: dict[str, Any], session: Any) -> dict[str, Any]:
    """The SAM template as plain CloudFormation (for endpoints without the SAM transform).

    ``session`` is the boto3 session whose region the transform's pseudo parameters take.
    """
    try:
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
    except ImportError:
        raise DeployError(
            "Deploying to an endpoint without the SAM transform (the local stack) needs "
            "aws-sam-translator: install the plugin's 'local' extra, or pip install "
            "aws-sam-translator. AWS itself does not need it."
        ) from None
    translator = Translator(None, Parser(), boto_session=session)
    # The template names no managed policy by name, so the map is never consulted.
    return dict(
        translator.translate(copy.deepcopy(template), {}, get_managed_policy_map=lambda: {})
    )


def _region_session(clients: AwsClients) -> Any:
    import boto3

    return boto3.session.Session(region_name=clients.region)


def artifact_bucket_name(account: str, region: str) -> str:
    return f"{names.PRODUCT}-artifacts-{account}-{region}"


def ensure_artifact_bucket(clients: AwsClients, bucket: str) -> None:
    """Create the artifacts bucket (private, encrypted) unless this account has it."""
    s3 = clients.client("s3")
    try:
        # ExpectedBucketOwner: never upload the Lambda's code to a bucket of another account
        # that happens to hold the name (S3 names are global).
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=clients.account_id())
        return
    except ClientError as exc:
        if is_denied(exc):
            raise DeployError(
                f"The artifacts bucket {bucket} exists but is not this account's, or these "
                "credentials may not use it (S3 bucket names are global): pass "
                "--artifact-bucket with a bucket of yours in this region."
            ) from None
        if not is_missing(exc):
            raise
    args: dict[str, Any] = {"Bucket": bucket}
    if clients.region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": clients.region}
    s3.create_bucket(**args)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def upload_code(clients: AwsClients, pkg: Package, bucket: str) -> dict[str, Any]:
    """Upload the Lambda zip (named by its hash); the template with CodeUri pointing at it."""
    data = pkg.zip_path.read_bytes()
    key = f"{names.PRODUCT}/lambda-{hashlib.sha256(data).hexdigest()[:20]}.zip"
    clients.client("s3").put_object(
        Bucket=bucket, Key=key, Body=data, ExpectedBucketOwner=clients.account_id()
    )
    template = copy.deepcopy(pkg.template)
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
    return template


def _template_argument(clients: AwsClients, template: dict[str, Any], bucket: str) -> dict:
    body = json.dumps(template)
    if len(body.encode()) <= _INLINE_TEMPLATE_LIMIT:
        return {"TemplateBody": body}
    key = f"{names.PRODUCT}/template-{hashlib.sha256(body.encode()).hexdigest()[:20]}.json"
    clients.client("s3").put_object(
        Bucket=bucket, Key=key, Body=body.encode(), ExpectedBucketOwner=clients.account_id()
    )
    return {"TemplateURL": f"https://{bucket}.s3.{clients.region}.amazonaws.com/{key}"}


def _stack_status(cfn: Any, stack: str) -> str | None:
    found = stackevents.describe_stack(cfn, stack)
    return str(found["StackStatus"]) if found else None


def _failures(cfn: Any, stack: str) -> str:
    events = cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
    lines = [
        f"  {e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason')}"
        for e in events
        if e.get("ResourceStatus", "").endswith("FAILED")
    ]
    return "\n".join(lines[:10]) or "  (no failed resource reported)"


def replace_failed_stack(clients: AwsClients, state: preflight.StackState, say: Say) -> None:
    """Delete a stack that holds nothing and cannot be updated (ROLLBACK_COMPLETE, ...)."""
    cfn = clients.client("cloudformation")
    say(
        f"stack {state.name} is {state.status} from an earlier deploy that did not finish; "
        "CloudFormation cannot update it, so it is deleted and created again"
    )
    deleted = stackevents.stack_id(cfn, state.name) or state.name
    since = stackevents.last_event_time(cfn, deleted)
    cfn.delete_stack(StackName=state.name)
    try:
        stackevents.wait_for(cfn, deleted, "DELETE_COMPLETE", say, since)
    except stackevents.Unsettled:
        raise DeployError(
            f"Stack {state.name} ({state.status}) could not be deleted "
            f"({_stack_status(cfn, state.name)}):\n{_failures(cfn, state.name)}\nDelete it in "
            "the CloudFormation console, then deploy again."
        ) from None


def deploy_stack(
    clients: AwsClients,
    state: preflight.StackState,
    template_argument: Mapping[str, str],
    parameters: Mapping[str, str],
    capabilities: list[str],
    say: Say = print,
) -> dict[str, str]:
    """Create or update the stack and wait for it; return its Outputs.

    On an update, parameters not given keep the stack's previous values (a redeploy without
    ``-p ComputeEnvironment=...`` does not remove the compute environment).
    """
    cfn = clients.client("cloudformation")
    stack = state.name
    if state.status in preflight.REPLACEABLE:
        replace_failed_stack(clients, state, say)
    update = state.updatable
    given = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    kept = [
        {"ParameterKey": k, "UsePreviousValue": True}
        for k in state.parameters
        if update and k not in parameters and k in control_plane.PARAMETERS
    ]
    args: dict[str, Any] = {
        "StackName": stack,
        "Parameters": given + kept,
        "Capabilities": capabilities,
        "Tags": [{"Key": "application", "Value": names.PRODUCT}],
        # A failed operation deletes what it created, even the bucket (DeletionPolicy Retain),
        # so a failed first deploy leaves nothing behind.
        "RetainExceptOnCreate": True,
        **template_argument,
    }
    try:
        if not update:
            say(f"creating stack {stack}; its events follow as CloudFormation records them")
            since = None
            created = cfn.create_stack(**args, OnFailure="ROLLBACK")
            goal = "CREATE_COMPLETE"
        else:
            say(f"updating stack {stack} ({state.status}); its events follow")
            since = stackevents.last_event_time(cfn, stack)
            created = cfn.update_stack(**args)
            goal = "UPDATE_COMPLETE"
        stackevents.wait_for(cfn, created.get("StackId") or stack, goal, say, since)
    except ClientError as exc:
        if "No updates are to be performed" not in error_message(exc):
            raise
        say(f"stack {stack} is up to date")
    except stackevents.Unsettled:
        status = _stack_status(cfn, stack)
        after = (
            "The next 'eventbatch deploy' deletes it and creates it again."
            if status in preflight.REPLACEABLE
            else "Its resources are as before this deploy."
        )
        raise DeployError(
            f"Stack {stack} did not deploy ({status}):\n{_failures(cfn, stack)}\n{after}"
        ) from None
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def settings_from_outputs(outputs: Mapping[str, str]) -> dict[str, str]:
    """The [executors.awsbatch] values the stack's Outputs give."""
    return {
        key: outputs[name] for name, key in control_plane.OUTPUT_SETTINGS.items() if name in outputs
    }


def config_section(values: Mapping[str, str]) -> str:
    lines = ["[executors.awsbatch]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines)


def write_config(values: Mapping[str, Any]) -> str:
    """Update these keys of covalent.conf's [executors.awsbatch], keeping the others."""
    from covalent._shared_files import config

    manager = config._config_manager
    manager.read_config()
    manager.update_config({"executors": {"awsbatch": dict(values)}}, override_existing=True)
    manager.write_config()
    return str(manager.config_file)


def deploy(
    clients: AwsClients,
    stack: str = DEFAULT_STACK,
    parameters: Mapping[str, str] | None = None,
    artifacts_bucket: str = "",
    stage: str = "dev",
    local_transform: bool | None = None,
    say: Say = print,
) -> dict[str, str]:
    """Check, package, upload and deploy; return the stack's Outputs.

    Raises DeployError, before CloudFormation starts, for anything AWS would refuse.
    """
    given = dict(parameters or {})
    problems = preflight.check_stack_name(stack) + preflight.check_given(given)
    preflight.stop_if(problems, stack)
    # AWS's own errors (no credentials, denied, unreachable) reach the caller as botocore
    # raised them: the command turns each kind into its one line (covalent_eventbatch.cli).
    state = preflight.read_stack(clients, stack)
    previous = state.parameters if state.updatable else {}
    values = preflight.effective_parameters(given, previous)
    problems += preflight.check_parameters(given, values) + state.problems()
    problems += preflight.check_stack_name_fits(stack, values)
    preflight.stop_if(problems, stack)
    problems += preflight.check_account(clients, values, state, say)
    preflight.stop_if(problems, stack)
    if local_transform is None:
        local_transform = bool(clients.endpoint_url)
    bucket = artifacts_bucket or artifact_bucket_name(clients.account_id(), clients.region)
    with tempfile.TemporaryDirectory(prefix="eventbatch-deploy-") as work:
        say("packaging the control plane (chalice package)")
        pkg = package(Path(work), clients.region, stage)
        ensure_artifact_bucket(clients, bucket)
        template = upload_code(clients, pkg, bucket)
        say(f"uploaded the Lambda code to s3://{bucket}")
        if local_transform:
            template = transform_locally(template, _region_session(clients))
        capabilities = preflight.required_capabilities(template, values)
        argument = _template_argument(clients, template, bucket)
        if not local_transform:
            # AWS's ValidateTemplate (moto's runs cfn-lint and refuses on any warning).
            problems = preflight.check_template(clients, argument, capabilities)
            preflight.stop_if(problems, stack)
        return deploy_stack(clients, state, argument, given, capabilities, say)
