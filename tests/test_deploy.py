"""deploy/ and the Dockerfile: every deploy file is well-formed for the API it goes to (botocore's
service models, then moto's ECS, EventBridge Scheduler, CloudWatch and IAM), every policy passes a
linter and is least-privilege, and what they name agrees with the code: each S3 request a real run
makes is allowed by the task role as deploy/render.py writes it for that run's buckets, the metrics
the alarms watch are the ones a run publishes, the secret ARN Secrets Manager returns is one the
execution role may read."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import botocore.session
from botocore.validate import ParamValidator
from conftest import World, cli, photo
from proxy import Proxy

from gcs2s3.cli.metrics import NAMESPACE, metric_data
from gcs2s3.core.config import SECRET_ENV, Settings
from gcs2s3.core.report import failed_report
from gcs2s3.stores.gcs import KEY_JSON_ENV

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
MIB = 2**20
# each deploy file, and the API operation it is the input of
OPERATIONS = {
    "task-definition.json": ("ecs", "RegisterTaskDefinition"),
    "schedule.json": ("scheduler", "CreateSchedule"),
    "alarm-run-failed.json": ("cloudwatch", "PutMetricAlarm"),
    "alarm-not-running.json": ("cloudwatch", "PutMetricAlarm"),
    "bucket-lifecycle.json": ("s3", "PutBucketLifecycleConfiguration"),
}
POLICIES = ("task-role-policy.json", "execution-role-policy.json", "scheduler-role-policy.json",
            "ecs-tasks-trust-policy.json", "scheduler-trust-policy.json")


def load(name: str, folder: Path = DEPLOY) -> Any:
    return json.loads((folder / name).read_text())


def rendered(tmp: Path, *args: str) -> Path:
    out = tmp / "deploy"
    done = subprocess.run([sys.executable, str(DEPLOY / "render.py"), "--out", str(out), *args], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out


def test_every_deploy_file_is_accounted_for_and_valid_for_its_api() -> None:
    assert {p.name for p in DEPLOY.glob("*.json")} == set(OPERATIONS) | set(POLICIES)
    session = botocore.session.get_session()
    for name, (service, operation) in OPERATIONS.items():
        shape = session.get_service_model(service).operation_model(operation).input_shape
        params = load(name)
        if name == "bucket-lifecycle.json":
            params = {"Bucket": "media-prod", "LifecycleConfiguration": params}
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), (name, report.generate_report())


def test_the_task_definition_registers_and_carries_what_the_code_reads(aws: dict[str, str]) -> None:
    definition = load("task-definition.json")
    answer = boto3.client("ecs").register_task_definition(**definition)["taskDefinition"]
    assert answer["family"] == "gcs2s3-prod" and answer["requiresCompatibilities"] == ["FARGATE"]
    (main,) = answer["containerDefinitions"]  # no sidecar: the run publishes its own metrics
    assert main["essential"] and main["logConfiguration"]["logDriver"] == "awslogs"
    environment = {e["name"]: e["value"] for e in main["environment"]}
    assert environment["DevLevel"] in ("Stage", "Prod")
    assert environment["GCS2S3_CONFIG"].startswith("s3://")  # settings without a derived image
    assert environment["GCS2S3_METRICS"] == "cloudwatch"
    # Only the GCS key is required; the WordPress password and the webhook are added when used (docs).
    assert {s["name"] for s in main["secrets"]} == {KEY_JSON_ENV}
    docs = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    assert all(name in docs for name in SECRET_ENV.values())
    assert main["stopTimeout"] <= 30  # gcs2s3 stops within ECS's grace period after SIGTERM
    assert Settings.model_fields["stop_grace_s"].default < main["stopTimeout"]
    options = main["logConfiguration"]["options"]  # a throttled CloudWatch Logs drops lines, never stalls
    assert options["mode"] == "non-blocking" and options["max-buffer-size"].endswith("m")
    assert "awslogs-create-group" not in options  # the walkthrough creates it, with a retention


def test_the_alarms_watch_what_a_run_publishes(aws: dict[str, str]) -> None:
    data = metric_data(failed_report("sync", "Prod", 1, 1.0, "error: x"))
    published = {d["MetricName"]: d["Dimensions"] for d in data}
    cloudwatch = boto3.client("cloudwatch")
    for name in ("alarm-run-failed.json", "alarm-not-running.json"):
        alarm = load(name)
        assert alarm["Namespace"] == NAMESPACE and alarm["MetricName"] in published
        assert alarm["Dimensions"] == published[alarm["MetricName"]]
        cloudwatch.put_metric_alarm(**alarm)
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix="gcs2s3-prod-")["MetricAlarms"]
    missing = next(a for a in alarms if a["AlarmName"] == "gcs2s3-prod-not-running")
    assert missing["TreatMissingData"] == "breaching"  # a schedule that stopped running alarms too


def test_the_schedule_is_created_for_that_task(aws: dict[str, str]) -> None:
    schedule = load("schedule.json")
    boto3.client("scheduler").create_schedule(**schedule)
    stored = boto3.client("scheduler").get_schedule(Name=schedule["Name"])
    assert stored["ScheduleExpression"].startswith(("rate(", "cron("))
    target = stored["Target"]
    family = load("task-definition.json")["family"]
    assert target["EcsParameters"]["TaskDefinitionArn"].endswith(f":task-definition/{family}")
    assert target["EcsParameters"]["LaunchType"] == "FARGATE"


def test_the_policies_are_accepted_linted_and_least_privilege(aws: dict[str, str]) -> None:
    import parliament

    iam = boto3.client("iam")
    for trust, role in (("ecs-tasks-trust-policy.json", "gcs2s3-task"), ("scheduler-trust-policy.json", "gcs2s3-s")):
        document = load(trust)
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(document))
        for statement in document["Statement"]:  # no other account's resource may assume the role
            assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    for name in ("task-role-policy.json", "execution-role-policy.json", "scheduler-role-policy.json"):
        document = load(name)
        iam.create_policy(PolicyName=name.removesuffix(".json"), PolicyDocument=json.dumps(document))
        findings = parliament.analyze_policy_string(json.dumps(document)).findings
        assert not findings, (name, [str(f) for f in findings])
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            assert all("*" not in action for action in statement["Action"]), (name, statement["Action"])
            if any(r == "*" or r.endswith(":::*") for r in statement["Resource"]):
                # the two actions with no resource to name: ECR's login, and metrics (held to one namespace)
                assert statement["Action"] in (["ecr:GetAuthorizationToken"], ["cloudwatch:PutMetricData"]), statement
                if statement["Action"] == ["cloudwatch:PutMetricData"]:
                    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}
    pass_role = next(s for s in load("scheduler-role-policy.json")["Statement"] if s["Action"] == ["iam:PassRole"])
    assert pass_role["Condition"]["StringLike"]["iam:PassedToService"] == "ecs-tasks.amazonaws.com"


def test_the_secret_arn_secrets_manager_returns_is_the_one_the_roles_read(aws: dict[str, str], tmp_path: Path) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="gcs2s3/gcs-key", SecretString="{}")["ARN"]
    assert re.fullmatch(r"arn:aws:secretsmanager:us-east-1:\d{12}:secret:gcs2s3/gcs-key-[A-Za-z0-9]{6}", arn)
    account = arn.split(":")[4]
    out = rendered(tmp_path, "--account", account, "--region", "us-east-1", "--bucket", "media-prod",
                   "--archive-bucket", "media-prod-archive", "--gcs-key-arn", arn)
    (main,) = load("task-definition.json", out)["containerDefinitions"]
    assert [s["valueFrom"] for s in main["secrets"]] == [arn]
    readable = [r for s in load("execution-role-policy.json", out)["Statement"]
                if "secretsmanager:GetSecretValue" in s["Action"] for r in s["Resource"]]
    assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in readable), (arn, readable)
    boto3.client("ecs").register_task_definition(**load("task-definition.json", out))


def test_render_writes_stage_too(tmp_path: Path) -> None:
    out = rendered(tmp_path, "--account", "111122223333", "--region", "eu-west-1", "--level", "Stage",
                   "--bucket", "media-stage", "--archive-bucket", "media-stage-archive",
                   "--subnets", "subnet-1,subnet-2", "--security-groups", "sg-1")
    text = "".join((out / name).read_text() for name in sorted(OPERATIONS) + list(POLICIES))
    for stale in ("123456789012", "us-east-1", "media-prod", '"Prod"', "gcs2s3-prod", "subnet-0123456789abcdef0"):
        assert stale not in text, stale
    (main,) = load("task-definition.json", out)["containerDefinitions"]
    assert {"name": "DevLevel", "value": "Stage"} in main["environment"]
    assert load("alarm-run-failed.json", out)["Dimensions"] == [{"Name": "DevLevel", "Value": "Stage"}]
    network = load("schedule.json", out)["Target"]["EcsParameters"]["NetworkConfiguration"]["awsvpcConfiguration"]
    assert network["Subnets"] == ["subnet-1", "subnet-2"] and network["SecurityGroups"] == ["sg-1"]


# --- every S3 request a run makes is allowed by the task role ------------------------------------------

def s3_actions(method: str, target: str, headers: dict[str, str]) -> list[tuple[str, str]]:
    """The IAM actions (and resource ARNs) one path-style S3 request needs."""
    parts = urlsplit(target)
    bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    if not key:
        if "uploads" in query:
            return [("s3:ListBucketMultipartUploads", f"arn:aws:s3:::{bucket}")]
        assert method in ("GET", "HEAD"), (method, target)
        return [("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
    resource = f"arn:aws:s3:::{bucket}/{key}"
    if method in ("GET", "HEAD"):
        return [("s3:ListMultipartUploadParts" if "uploadId" in query else "s3:GetObject", resource)]
    if method == "DELETE":
        return [("s3:AbortMultipartUpload" if "uploadId" in query else "s3:DeleteObject", resource)]
    needed = [("s3:PutObject", resource)]  # PUT, multipart create / part / complete
    source = headers.get("x-amz-copy-source")
    if source:  # a server-side copy reads its source
        needed.append(("s3:GetObject", f"arn:aws:s3:::{unquote(source).lstrip('/').split('?')[0]}"))
    return needed


def allowed(policy: dict[str, Any], action: str, resource: str) -> bool:
    return any(action in s["Action"] and any(fnmatch.fnmatchcase(resource, r) for r in s["Resource"])
               for s in policy["Statement"] if s["Effect"] == "Allow")


def test_every_s3_request_of_a_run_is_allowed_by_the_task_role(world: World, emulators: dict[str, str],
                                                               tmp_path: Path) -> None:
    ini = {"thumbnails": "true", "thumbnail_sizes": "thumbnail:150x150:crop", "report_prefix": "reports/",
           "multipart_threshold_mb": "5", "part_size_mb": "5", "multipart_copy_threshold_mb": "5"}
    world.s3.put_object(Bucket=world.archive_bucket, Key="config/primary.ini", Body=world.ini(**ini).read_bytes())
    world.put("exports/big.bin", b"x" * (6 * MIB))
    world.put("images/photo.jpg", photo(320, 240))
    config = f"s3://{world.archive_bucket}/config/primary.ini"
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        env = {"AWS_ENDPOINT_URL": s3.url}
        for _ in range(2):  # a first sync, then one that finds everything in place
            assert cli("sync", "--config", config, "--dev-level", "Stage", "--json", env=env).code == 0
        world.put("exports/big.bin", b"y" * (6 * MIB))  # a changed version: archived, copied in parts
        assert cli("sync", "--config", config, "--dev-level", "Stage", "--json", env=env).code == 0
        assert cli("verify", "--config", config, "--dev-level", "Stage", "--json", env=env).code == 0
        requests = list(zip(s3.requests, s3.headers, strict=True))
    policy = load("task-role-policy.json", rendered(
        tmp_path, "--account", "123456789012", "--region", "us-east-1", "--bucket", world.s3_bucket,
        "--archive-bucket", world.archive_bucket))
    needed = {pair for (method, target), headers in requests for pair in s3_actions(method, target, headers)}
    assert {action for action, _ in needed} >= {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    refused = sorted(pair for pair in needed if not allowed(policy, *pair))
    assert not refused, refused


def test_the_task_role_allows_the_notification_and_the_metrics_the_code_sends(aws: dict[str, str]) -> None:
    """What a run sends besides S3: sns:Publish to the topic the walkthrough creates, and PutMetricData
    in the namespace the code publishes to (the policy's condition names it)."""
    policy = load("task-role-policy.json")
    topic = boto3.client("sns").create_topic(Name="gcs2s3-failures")["TopicArn"]
    assert allowed(policy, "sns:Publish", topic.replace(topic.split(":")[4], "123456789012"))
    (metrics,) = [s for s in policy["Statement"] if "cloudwatch:PutMetricData" in s["Action"]]
    assert metrics["Condition"]["StringEquals"]["cloudwatch:namespace"] == NAMESPACE


def test_the_dockerfile_builds_a_non_root_image_from_a_debian_base() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert [stage.split()[0] for stage in stages] == ["${BASE}", "base", "base"]
    assert "ARG BASE=debian:bookworm-slim" in text
    final = stages[-1]
    assert "USER 10001" in final and "useradd" in final
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "gcs2s3"]' in final and 'CMD ["sync"]' in final
    assert "GCS2S3_CONFIG=/app/primary.ini" in final
    assert not re.search(r"apt-get|gcc|build-essential|pip install", final)  # nothing compiled or fetched there
    assert "--only-binary=:all: --no-binary=pyvips" in stages[1]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "key", "primary.ini"} <= set(ignored)  # no secrets or local settings in the context
    readme = (ROOT / "README.md").read_text()
    assert "COPY primary.ini" not in readme  # the context never holds it: the README must not ask for it
