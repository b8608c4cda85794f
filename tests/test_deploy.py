"""deploy/ and the Dockerfile: the task definition registers, the schedule is created and the IAM
policies are accepted by moto's ECS, EventBridge Scheduler and IAM; what they name agrees with the
code and the template; the policies are least-privilege."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from gcs2s3.cli.metrics import emf_line
from gcs2s3.core.config import SECRET_ENV, Settings
from gcs2s3.core.report import failed_report
from gcs2s3.stores.gcs import KEY_JSON_ENV

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def load(name: str) -> Any:
    return json.loads((DEPLOY / name).read_text())


def test_the_task_definition_registers_and_carries_what_the_code_reads(aws: dict[str, str]) -> None:
    definition = load("task-definition.json")
    answer = boto3.client("ecs").register_task_definition(**definition)["taskDefinition"]
    assert answer["family"] == "gcs2s3-prod" and answer["requiresCompatibilities"] == ["FARGATE"]
    main, agent = answer["containerDefinitions"]
    assert main["essential"] and not agent["essential"]
    assert main["logConfiguration"]["logDriver"] == "awslogs" == agent["logConfiguration"]["logDriver"]
    environment = {e["name"]: e["value"] for e in main["environment"]}
    assert environment["DevLevel"] in ("Stage", "Prod")
    assert environment["AWS_EMF_AGENT_ENDPOINT"] == "tcp://127.0.0.1:25888"
    assert environment["GCS2S3_CONFIG"].startswith("s3://")  # settings without a derived image
    assert json.loads({e["name"]: e["value"] for e in agent["environment"]}["CW_CONFIG_CONTENT"]) == {
        "logs": {"metrics_collected": {"emf": {}}}}
    # Only the GCS key is required; the WordPress password and the webhook are added when used (README).
    assert {s["name"] for s in main["secrets"]} == {KEY_JSON_ENV}
    readme = (ROOT / "README.md").read_text()
    assert all(name in readme for name in SECRET_ENV.values())
    assert main["stopTimeout"] <= 30  # gcs2s3 stops within ECS's grace period after SIGTERM
    grace = Settings.model_fields["stop_grace_s"].default
    assert grace < main["stopTimeout"]
    for container in (main, agent):  # a throttled CloudWatch Logs drops lines, never stalls the sync
        options = container["logConfiguration"]["options"]
        assert options["mode"] == "non-blocking" and options["max-buffer-size"].endswith("m")


def test_metrics_reach_a_log_group_the_agent_may_write_and_the_alarms_read_them(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    main = load("task-definition.json")["containerDefinitions"][0]
    environment = {e["name"]: e["value"] for e in main["environment"]}
    group = environment["AWS_EMF_LOG_GROUP_NAME"]
    monkeypatch.setenv("AWS_EMF_LOG_GROUP_NAME", group)
    document = json.loads(emf_line(failed_report("sync", "Prod", 1, 1.0, "error: x")))
    assert document["_aws"]["LogGroupName"] == group
    granted = {(a, r) for s in load("task-role-policy.json")["Statement"] for a in s["Action"] for r in s["Resource"]}
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert (action, f"arn:aws:logs:us-east-1:123456789012:log-group:{group}:*") in granted
    cloudwatch = boto3.client("cloudwatch")
    for name in ("alarm-run-failed.json", "alarm-not-running.json"):
        alarm = load(name)
        assert alarm["Namespace"] == document["_aws"]["CloudWatchMetrics"][0]["Namespace"]
        assert alarm["MetricName"] in document and [d["Name"] for d in alarm["Dimensions"]] == ["DevLevel"]
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


def test_the_policies_are_valid_and_least_privilege(aws: dict[str, str]) -> None:
    iam = boto3.client("iam")
    for trust, role in (("ecs-tasks-trust-policy.json", "gcs2s3-task"), ("scheduler-trust-policy.json", "gcs2s3-s")):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(load(trust)))
    for name in ("task-role-policy.json", "execution-role-policy.json", "scheduler-role-policy.json"):
        document = load(name)
        iam.create_policy(PolicyName=name.removesuffix(".json"), PolicyDocument=json.dumps(document))
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            assert all("*" not in action for action in statement["Action"]), (name, statement["Action"])
            if statement["Action"] != ["ecr:GetAuthorizationToken"]:  # the one action with no resource to name
                assert all(r != "*" and not r.endswith(":::*") for r in statement["Resource"]), (name, statement)


def test_the_task_role_names_the_templates_buckets_and_each_action_the_code_needs() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "template_primary.ini")
    prod = parser["Prod"]
    statements = load("task-role-policy.json")["Statement"]
    granted = {(action, resource) for s in statements for action in s["Action"] for resource in s["Resource"]}
    for bucket in (prod["s3_bucket"], prod["archive_bucket"]):
        for action in ("s3:ListBucket", "s3:ListBucketMultipartUploads"):
            assert (action, f"arn:aws:s3:::{bucket}") in granted
        for action in ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"):
            assert (action, f"arn:aws:s3:::{bucket}/*") in granted
    assert ("s3:DeleteObject", f"arn:aws:s3:::{prod['s3_bucket']}/*") in granted
    assert not any(a == "s3:DeleteObject" and prod["archive_bucket"] in r for a, r in granted)  # append-only
    execution = load("execution-role-policy.json")["Statement"]
    readable = {r for s in execution if "secretsmanager:GetSecretValue" in s["Action"] for r in s["Resource"]}
    main = load("task-definition.json")["containerDefinitions"][0]
    assert {s["valueFrom"] for s in main["secrets"]} <= readable


def test_the_dockerfile_builds_a_slim_non_root_image_running_sync() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) == 2, "a build stage and a final stage"
    final = stages[-1]
    assert re.match(r"python:3\.\d+-slim\b", final)
    assert "USER 10001" in final and "useradd" in final
    assert 'ENTRYPOINT ["gcs2s3", "sync"]' in final and "GCS2S3_CONFIG=/app/primary.ini" in final
    assert not re.search(r"apt-get|gcc|build-essential|pip install", final)  # nothing compiled or fetched there
    assert "--only-binary=:all: --no-binary=pyvips" in stages[0]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "key", "primary.ini"} <= set(ignored)  # no secrets or local settings in the context
    readme = (ROOT / "README.md").read_text()
    assert "COPY primary.ini" not in readme  # the context never holds it: the README must not ask for it
