"""``eventbatch doctor``: check that the configured AWS resources exist and are usable.

One ``Check`` per line, each with the fix when it fails. Credentials first (nothing else can be
checked without them), then the region, each resource named by ``[executors.awsbatch]``, the
executor's permissions, and Docker when the runtime image may have to be built.

Permissions: ``iam:SimulatePrincipalPolicy`` for the caller, on the actions and ARNs of
``controlplane/executor-policy.json``, when the caller may call it; otherwise harmless probes of the
actions that have one (reads, and a write and delete of one small object under
``PREFIX/tasks/``), and "not checked" for the rest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from covalent_eventbatch.executor import names
from covalent_eventbatch.executor.aws import AwsClients, command_clients, explain_aws_error
from covalent_eventbatch.executor.awserrors import Kind, classify, error_code, is_denied
from covalent_eventbatch.executor.names import role_arn
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.executor.wakeups import OWNER_TAG

from . import iampolicy, rolecheck

PASS, FAIL, SKIP, WARN = "ok", "FAIL", "skip", "warn"
PROBE_KEY = "tasks/eventbatch-doctor/probe.txt"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # PASS, FAIL, SKIP (not checked) or WARN (works, but see the detail)
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:4}  {self.name:36} {self.detail}"
        shown = self.fix and self.status in (FAIL, WARN)
        return f"{text}\n      fix: {self.fix}" if shown else text


class Doctor:
    def __init__(self, settings: ExecutorSettings, clients: AwsClients) -> None:
        self.s = settings
        self.clients = clients
        self.checks: list[Check] = []

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))

    def _try(self, name: str, call: Callable[[], str], fix: Callable[[Exception], str]) -> bool:
        try:
            self.add(name, PASS, call())
            return True
        except (ClientError, BotoCoreError) as exc:
            explained = explain_aws_error(exc, self.s)
            self.add(name, FAIL, str(explained or exc).split(". ")[0], fix(exc))
            return False

    # -- checks --------------------------------------------------------------------------------

    def run(self) -> list[Check]:
        if not self.credentials():
            self.checks.append(plugin_check())
            self.add("everything else", SKIP, "not checked without working credentials")
            return self.checks
        self.region()
        self.bucket()
        self.repository()
        self.queue()
        self.state_machine()
        self.role("job role", self.s.batch_job_role_name, "batch_job_role_name")
        self.role("execution role", self.s.batch_execution_role_name, "batch_execution_role_name")
        self.job_role_announces()
        self.log_group()
        self.permissions()
        self.docker()
        self.checks.append(plugin_check())
        return self.checks

    def credentials(self) -> bool:
        def call() -> str:
            who = self.clients.client("sts").get_caller_identity()
            self.caller_arn = str(who["Arn"])
            return f"account {who['Account']} as {who['Arn']}"

        return self._try("credentials", call, _credentials_fix)

    def region(self) -> None:
        region = self.clients.region
        known = self.clients.session.get_available_regions(
            "stepfunctions", partition_name=self.clients.partition()
        )
        if self.s.endpoint_url or region in known:
            self.add("region", PASS, region)
        else:
            self.add("region", FAIL, f"'{region}' is not a region", "set 'region', e.g. us-east-1")

    def bucket(self) -> None:
        from covalent_eventbatch.executor.storage import check_bucket

        name = self.s.s3_bucket_name
        try:
            check_bucket(self.clients, name)
            self.add("S3 bucket", PASS, f"{name} in {self.clients.region}")
        except Exception as exc:
            message = str(exc)
            self.add("S3 bucket", FAIL, message.split(". ")[0], _after_first(message))

    def repository(self) -> None:
        name = self.s.ecr_repo_name

        def call() -> str:
            found = self.clients.client("ecr").describe_repositories(repositoryNames=[name])
            return str(found["repositories"][0]["repositoryUri"])

        self._try(
            "ECR repository",
            call,
            lambda exc: (
                f"create it (aws ecr create-repository --repository-name {name}, or "
                "'eventbatch deploy') or set 'ecr_repo_name'"
            ),
        )

    def queue(self) -> None:
        batch = self.clients.client("batch")
        name = self.s.batch_queue
        try:
            queues = batch.describe_job_queues(jobQueues=[name])["jobQueues"]
        except ClientError as exc:
            self.add("Batch job queue", FAIL, f"{name}: {exc}", _permission_fix(exc))
            return
        if not queues:
            self.add(
                "Batch job queue",
                FAIL,
                f"{name} does not exist in {self.clients.region}",
                "deploy with ComputeEnvironment=EC2 or FARGATE, or set 'batch_queue'",
            )
            return
        queue = queues[0]
        if queue.get("state") != "ENABLED" or queue.get("status") != "VALID":
            self.add(
                "Batch job queue",
                FAIL,
                f"{name} is {queue.get('state')}/{queue.get('status')}: "
                f"{queue.get('statusReason', '')}",
                f"enable it (aws batch update-job-queue --job-queue {name} --state ENABLED) "
                "and fix what its status reason names",
            )
            return
        environments = [e["computeEnvironment"] for e in queue.get("computeEnvironmentOrder", [])]
        bad = []
        if environments:
            try:
                found = batch.describe_compute_environments(computeEnvironments=environments)
            except ClientError as exc:
                self.add(
                    "Batch job queue", FAIL, f"{name}: {error_code(exc)}", _permission_fix(exc)
                )
                return
            for env in found["computeEnvironments"]:
                if env.get("state") != "ENABLED" or env.get("status") != "VALID":
                    bad.append(f"{env['computeEnvironmentName']} {env['state']}/{env['status']}")
        if bad or not environments:
            self.add(
                "Batch job queue",
                FAIL,
                f"{name}: compute environments not usable: {', '.join(bad) or 'none'}",
                "give the queue an ENABLED, VALID compute environment",
            )
            return
        self.add("Batch job queue", PASS, f"{name} ENABLED/VALID ({len(environments)} env)")

    def state_machine(self) -> None:
        from covalent_eventbatch.executor.names import state_machine_arn
        from covalent_eventbatch.statemachine.definition import build_definition

        partition = self.clients.partition()
        arn = state_machine_arn(
            partition, self.clients.region, self.clients.account_id(), self.s.state_machine_name
        )
        self.state_machine_arn = arn
        try:
            found = self.clients.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
        except ClientError as exc:
            if is_denied(exc):
                self.add("state machine", FAIL, f"{arn}: denied", _permission_fix(exc))
            else:
                self.add(
                    "state machine",
                    FAIL,
                    f"{self.s.state_machine_name} does not exist ({error_code(exc)})",
                    "deploy the control plane ('eventbatch deploy') or set 'state_machine_name'",
                )
            return
        if json.loads(found["definition"]) != build_definition(partition):
            self.add(
                "state machine",
                FAIL,
                f"{self.s.state_machine_name}: definition differs from this version's",
                "redeploy the control plane ('eventbatch deploy') with this version",
            )
            return
        self.add("state machine", PASS, arn)

    def role(self, label: str, name: str, key: str) -> None:
        self._try(
            label,
            lambda: str(self.clients.client("iam").get_role(RoleName=name)["Role"]["Arn"]),
            lambda exc: (
                f"create role {name} (trusting ecs-tasks.amazonaws.com; "
                f"'eventbatch deploy' does) or set '{key}'"
                if not is_denied(exc)
                else _permission_fix(exc)
            ),
        )

    def job_role_announces(self) -> None:
        """The job role may send events: every electron's container announces its own end."""
        label = "job role events:PutEvents"
        name = self.s.batch_job_role_name
        bus = names.arn(
            self.clients.partition(),
            "events",
            self.clients.region,
            self.clients.account_id(),
            "event-bus/default",
        )
        iam = self.clients.client("iam")
        try:
            role_arn = str(iam.get_role(RoleName=name)["Role"]["Arn"])
        except (ClientError, BotoCoreError):
            self.add(label, SKIP, f"not checked: role {name} could not be read (see 'job role')")
            return
        try:
            results = iam.simulate_principal_policy(
                PolicySourceArn=role_arn, ActionNames=["events:PutEvents"], ResourceArns=[bus]
            )["EvaluationResults"]
            allowed, how = results[0]["EvalDecision"] == "allowed", "IAM policy simulation"
        except Exception:  # noqa: BLE001 - denied, or unanswerable (moto): read its policies
            try:
                documents = rolecheck.role_documents(iam, name)
            except (ClientError, BotoCoreError) as exc:
                self.add(label, SKIP, f"not checked: {error_code(exc)}", _permission_fix(exc))
                return
            except Exception as exc:  # noqa: BLE001 - an unreadable answer (moto's CloudFormation
                # roles make its GetRolePolicy fail with a 500): not checked, never a crash
                self.add(label, SKIP, f"not checked: IAM's answer could not be read ({exc})"[:200])
                return
            allowed = rolecheck.allows(documents, "events:PutEvents", bus)
            how = "the role's policies (conditions not evaluated)"
        if allowed:
            self.add(label, PASS, f"{name} on {bus} ({how})")
        else:
            self.add(
                label,
                FAIL,
                f"{name} may not send events to {bus} ({how})",
                "allow events:PutEvents on the default event bus to the job role: every "
                "electron announces its own completion ('eventbatch deploy' grants it); "
                "without it each is recorded only once Step Functions sees its job end (a "
                "packed one when its whole array job ends)",
            )

    def log_group(self) -> None:
        name = self.s.batch_job_log_group_name
        try:
            groups = self.clients.client("logs").describe_log_groups(logGroupNamePrefix=name)
        except ClientError as exc:
            self.add("log group", FAIL, f"{name}: {error_code(exc)}", _permission_fix(exc))
            return
        if any(g["logGroupName"] == name for g in groups.get("logGroups", [])):
            self.add("log group", PASS, name)
        else:
            self.add(
                "log group",
                FAIL,
                f"{name} does not exist",
                f"create it (aws logs create-log-group --log-group-name {name}) or set "
                "'batch_job_log_group_name'",
            )

    # -- permissions ---------------------------------------------------------------------------

    def names(self) -> iampolicy.Names:
        return iampolicy.Names(
            partition=self.clients.partition(),
            region=self.clients.region,
            account=self.clients.account_id(),
            bucket=self.s.s3_bucket_name,
            prefix=self.s.s3_prefix,
            ecr_repo=self.s.ecr_repo_name,
            state_machine=self.s.state_machine_name,
            log_group=self.s.batch_job_log_group_name,
        )

    def permissions(self) -> None:
        if not self.simulate():
            self.probe()

    def simulate(self) -> bool:
        """Ask IAM about every action of the policy; False when IAM will not answer."""
        principal = _principal_arn(getattr(self, "caller_arn", ""))
        if not principal:
            return False
        iam = self.clients.client("iam")
        for statement in iampolicy.statements(self.names()):
            actions = _as_list(statement["Action"])
            # A concrete name stands for each wildcard (an execution, a job, an object).
            resources = [
                r if r == "*" else r.replace("*", "eventbatch-doctor")
                for r in _as_list(statement["Resource"])
            ]
            try:
                results = iam.simulate_principal_policy(
                    PolicySourceArn=principal, ActionNames=actions, ResourceArns=resources
                )["EvaluationResults"]
            except Exception:  # noqa: BLE001 - denied, or unanswerable (moto): probe instead
                return False
            denied = sorted(
                {r["EvalActionName"] for r in results if r["EvalDecision"] != "allowed"}
            )
            self._permission_line(statement["Sid"], denied, "IAM policy simulation")
        return True

    def _permission_line(self, sid: str, denied: list[str], how: str) -> None:
        name = f"permission {sid}"
        if denied:
            self.add(
                name,
                FAIL,
                f"denied: {', '.join(denied)} ({how})",
                f"grant statement {sid} of controlplane/executor-policy.json (or attach the "
                "stack's ExecutorPolicy)",
            )
        else:
            self.add(name, PASS, how)

    def probe(self) -> None:
        """Call what can be called without effect; 'not checked' for the rest."""
        n = self.names()
        root = f"{n.prefix}/" if n.prefix else ""
        s3 = self.clients.client("s3")
        ecr = self.clients.client("ecr")
        sfn = self.clients.client("stepfunctions")
        logs = self.clients.client("logs")
        key = root + PROBE_KEY
        sqs = self.clients.client("sqs")
        queue: dict[str, str] = {}  # the probe queue, made by the first of its probes

        def make_queue() -> None:
            queue["url"] = sqs.create_queue(
                QueueName=f"{names.WAKE_QUEUE_PREFIX}doctor-{os.getpid()}",
                tags={OWNER_TAG: "eventbatch-doctor"},
            )["QueueUrl"]

        def on_queue(call: Callable[..., Any]) -> Callable[[], Any]:
            # Without the queue (CreateQueue denied) the rest cannot be asked: not checked.
            return lambda: call(QueueUrl=queue["url"]) if "url" in queue else None

        probes: dict[str, list[tuple[str, Callable[[], Any]]]] = {
            "FindBucketListMarkers": [
                ("s3:GetBucketLocation", lambda: s3.get_bucket_location(Bucket=n.bucket)),
                (
                    "s3:ListBucket",
                    lambda: s3.list_objects_v2(
                        Bucket=n.bucket, Prefix=f"{root}markers/", MaxKeys=1
                    ),
                ),
            ],
            "TaskObjectsAndMarkers": [
                ("s3:PutObject", lambda: s3.put_object(Bucket=n.bucket, Key=key, Body=b"ok")),
                ("s3:GetObject", lambda: s3.get_object(Bucket=n.bucket, Key=key)),
                ("s3:DeleteObject", lambda: s3.delete_object(Bucket=n.bucket, Key=key)),
            ],
            "EcrLogin": [("ecr:GetAuthorizationToken", ecr.get_authorization_token)],
            # The process's wake-up queue: a probe queue made, asked, and deleted.
            "OwnWakeUpQueue": [
                ("sqs:CreateQueue", make_queue),
                ("sqs:ListQueueTags", on_queue(sqs.list_queue_tags)),
                ("sqs:ReceiveMessage", on_queue(sqs.receive_message)),
                ("sqs:DeleteQueue", on_queue(sqs.delete_queue)),
            ],
            "FindWakeUpQueues": [
                (
                    "sqs:ListQueues",
                    lambda: sqs.list_queues(QueueNamePrefix=names.WAKE_QUEUE_PREFIX),
                )
            ],
            "RuntimeImage": [
                (
                    "ecr:DescribeRepositories",
                    lambda: ecr.describe_repositories(repositoryNames=[n.ecr_repo]),
                ),
                (
                    "ecr:DescribeImages",
                    lambda: ecr.describe_images(
                        repositoryName=n.ecr_repo, imageIds=[{"imageTag": "eventbatch-doctor"}]
                    ),
                ),
                # A missing tag is a failure in the answer, not an error: the call is harmless.
                (
                    "ecr:BatchGetImage",
                    lambda: ecr.batch_get_image(
                        repositoryName=n.ecr_repo, imageIds=[{"imageTag": "eventbatch-doctor"}]
                    ),
                ),
            ],
            "ReadJobLogs": [
                (
                    "logs:GetLogEvents",
                    lambda: logs.get_log_events(
                        logGroupName=n.log_group, logStreamName="eventbatch-doctor", limit=1
                    ),
                )
            ],
            "StartExecutions": [
                (
                    "states:DescribeStateMachine",
                    lambda: sfn.describe_state_machine(
                        stateMachineArn=getattr(self, "state_machine_arn", "")
                    ),
                ),
                (
                    "states:ListExecutions",
                    lambda: sfn.list_executions(
                        stateMachineArn=getattr(self, "state_machine_arn", ""), maxResults=1
                    ),
                ),
            ],
        }
        for statement in iampolicy.statements(n):
            sid = statement["Sid"]
            denied = []
            for action, call in probes.get(sid, []):
                try:
                    call()
                except ClientError as exc:
                    if is_denied(exc):
                        denied.append(action)
                    # any other error (no such image, no such bucket) is not a permission
                    # problem, and the resource checks above report it
            probed = {action for action, _ in probes.get(sid, [])}
            unprobed = [a for a in _as_list(statement["Action"]) if a not in probed]
            if denied:
                self._permission_line(sid, denied, "probed")
            elif probed:
                rest = f"; not checked: {', '.join(unprobed)}" if unprobed else ""
                self.add(f"permission {sid}", PASS, f"probed {', '.join(sorted(probed))}{rest}")
            else:
                self.add(
                    f"permission {sid}",
                    SKIP,
                    f"not checked ({', '.join(unprobed)}: no harmless call; "
                    "iam:SimulatePrincipalPolicy would tell)",
                )

    def docker(self) -> None:
        if self.s.container_image_uri:
            self.add("Docker", PASS, "not needed: container_image_uri is set")
            return
        try:
            import docker

            # Bounded: a DOCKER_HOST that drops traffic is reported, not waited on for 60 s.
            docker.from_env(timeout=10).ping()
            self.add("Docker", PASS, "engine answers (the runtime image can be built)")
        except Exception as exc:  # docker raises several unrelated types when no engine answers
            self.add(
                "Docker",
                FAIL,
                f"no engine answers ({type(exc).__name__})",
                "start Docker (or set DOCKER_HOST), or set 'container_image_uri' to a prebuilt "
                "image ('eventbatch image build' on a host with Docker)",
            )


def plugin_check() -> Check:
    """Whether Covalent's 'awsbatch' is this plugin alone (covalent-awsbatch-plugin is one too)."""
    from covalent.executor import _executor_manager

    from covalent_eventbatch.executor import plugins

    name = "executor plugin 'awsbatch'"
    loaded = _executor_manager.executor_plugins_map.get(plugins.SHORT_NAME)
    found = plugins.rivalry(getattr(loaded, "__module__", None))
    if found is None:
        return Check(name, PASS, f"{plugins.OWN_DISTRIBUTION} alone registers it")
    others = sorted({r.distribution for r in found.registered if not r.own})
    also = ", ".join(str(r) for r in found.registered if not r.own)
    detail = f"{also} also registers it; Covalent uses {found.used.distribution} (loaded last)"
    fix = (
        f"pip uninstall {' '.join(others)}, then covalent restart; the [executors.awsbatch] "
        "settings carry over"
    )
    if found.used.own:
        return Check(name, WARN, f"{detail}, an order a reinstall may change", fix)
    return Check(name, FAIL, detail, fix)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _after_first(message: str) -> str:
    head, _, rest = message.partition(". ")
    return rest or head


def _permission_fix(exc: Exception) -> str:
    if is_denied(exc):
        return (
            "grant the DoctorChecks, DoctorChecksScoped and DoctorReadsRolePolicies statements "
            "of controlplane/executor-policy.json (read-only)"
        )
    return str(exc)


def _principal_arn(caller_arn: str) -> str:
    """The IAM principal to simulate: an assumed role's session ARN becomes the role's ARN."""
    parts = caller_arn.split(":")
    if len(parts) < 6:
        return ""
    if parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return role_arn(parts[1], parts[4], role)
    if parts[2] == "iam" and parts[5].startswith(("user/", "role/")):
        return caller_arn
    return ""


def _credentials_fix(exc: Exception) -> str:
    """The first call fails: a network that does not answer is not a credentials problem."""
    if classify(exc) is Kind.UNREACHABLE:
        return (
            "a network problem, not the credentials: check the network (proxy, firewall, VPN), "
            "'region', and 'endpoint_url' if set (for the local stack: 'eventbatch local up')"
        )
    return _CREDENTIALS_FIX


_CREDENTIALS_FIX = (
    "set 'credentials' and 'profile' in [executors.awsbatch] (or configure the default AWS "
    "credential chain), and check 'endpoint_url' if set"
)


# In the User-Agent of the doctor's requests: its calls are told apart from the executor's.
USER_AGENT = "eventbatch-doctor"


def run(settings: ExecutorSettings, clients: AwsClients | None = None) -> list[Check]:
    """Every check, in order; clients are made from the settings unless given."""
    if clients is None:
        try:
            clients = command_clients(settings, user_agent_extra=USER_AGENT)
        except BotoCoreError as exc:  # a profile that is not in the credentials file, say
            return [
                Check("credentials", FAIL, str(exc), _CREDENTIALS_FIX),
                plugin_check(),
                Check("everything else", SKIP, "not checked without working credentials"),
            ]
    return Doctor(settings, clients).run()


def exit_status(checks: list[Check]) -> int:
    """0 when no check failed ("not checked" is not a failure), else 1."""
    return 1 if any(c.status == FAIL for c in checks) else 0
