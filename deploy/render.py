#!/usr/bin/env python3
"""Write deploy/*.json for your account: the files here are a working example (account 123456789012,
region us-east-1, level Prod, buckets media-prod / media-prod-archive); this replaces each example
value with yours and writes the result to a folder of its own (default deploy/out-<level>/).

    python3 deploy/render.py --account 111122223333 --region eu-west-1 --level Prod \\
        --bucket my-media --archive-bucket my-media-archive [--s3-prefix P/ --archive-prefix archive/ …] \\
        --gcs-key-arn "$GCS_KEY_ARN" --subnets subnet-aaa,subnet-bbb --security-groups sg-ccc \\
        [--image 111122223333.dkr.ecr.eu-west-1.amazonaws.com/gcs2s3:1] [--topic gcs2s3-failures]

`--gcs-key-arn` is the ARN `aws secretsmanager create-secret` printed (Secrets Manager appends six
random characters to the name; the execution role's policy allows any six with `-??????`). Only the
Python standard library is needed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE_ACCOUNT = "123456789012"
EXAMPLE_REGION = "us-east-1"
EXAMPLE_BUCKET = "media-prod"
EXAMPLE_ARCHIVE = "media-prod-archive"
EXAMPLE_KEY_ARN = f"arn:aws:secretsmanager:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:secret:gcs2s3/gcs-key-AbCdEf"
EXAMPLE_SUBNET = "subnet-0123456789abcdef0"
EXAMPLE_GROUP = "sg-0123456789abcdef0"
EXAMPLE_TOPIC = "gcs2s3-failures"
FILES = sorted(path.name for path in HERE.glob("*.json"))


def render(text: str, values: argparse.Namespace) -> str:
    """One example file with the operator's values in place of the example's."""
    level, lower = values.level, values.level.lower()
    text = text.replace(EXAMPLE_KEY_ARN, values.gcs_key_arn or EXAMPLE_KEY_ARN)
    if values.image:
        text = re.sub(r'"image": "[^"]*"', f'"image": "{values.image}"', text)
    # the prefixes inside the buckets (the template's: s3_prefix blank, archive/, reports/) ...
    text = text.replace(f"{EXAMPLE_BUCKET}/.gcs2s3/*", f"{EXAMPLE_BUCKET}/{values.s3_prefix}.gcs2s3/*")
    text = text.replace(f"{EXAMPLE_BUCKET}/*", f"{EXAMPLE_BUCKET}/{values.s3_prefix}*")
    text = text.replace(f"{EXAMPLE_ARCHIVE}/archive/*", f"{EXAMPLE_ARCHIVE}/{values.archive_prefix}*")
    text = text.replace(f"{EXAMPLE_ARCHIVE}/reports/*", f"{EXAMPLE_ARCHIVE}/{values.report_prefix}*")
    # ... then the buckets (the archive's name contains the primary's), the account and the region
    text = re.sub(rf"\b{re.escape(EXAMPLE_ARCHIVE)}\b", values.archive_bucket, text)
    text = re.sub(rf"\b{re.escape(EXAMPLE_BUCKET)}\b(?!-archive)", values.bucket, text)
    text = text.replace(EXAMPLE_ACCOUNT, values.account).replace(EXAMPLE_REGION, values.region)
    text = text.replace(f":{EXAMPLE_TOPIC}", f":{values.topic}")
    text = text.replace('"Prod"', f'"{level}"').replace("gcs2s3-prod", f"gcs2s3-{lower}")
    text = text.replace("Prod, every", f"{level}, every").replace("in Prod", f"in {level}")
    text = text.replace('"awslogs-stream-prefix": "prod"', f'"awslogs-stream-prefix": "{lower}"')
    subnets = json.dumps(values.subnets.split(",")) if values.subnets else None
    groups = json.dumps(values.security_groups.split(",")) if values.security_groups else None
    if subnets:
        text = text.replace(f'["{EXAMPLE_SUBNET}"]', subnets)
    if groups:
        text = text.replace(f'["{EXAMPLE_GROUP}"]', groups)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--account", required=True, help="your AWS account id (12 digits)")
    parser.add_argument("--region", required=True, help="the region of the buckets, cluster and secret")
    parser.add_argument("--level", choices=("Stage", "Prod"), default="Prod", help="DevLevel of this deployment")
    parser.add_argument("--bucket", required=True, help="the primary S3 bucket (s3_bucket)")
    parser.add_argument("--archive-bucket", required=True, help="the archive bucket (archive_bucket)")
    parser.add_argument("--s3-prefix", default="", help="s3_prefix of the settings (default: blank)")
    parser.add_argument("--archive-prefix", default="archive/", help="archive_prefix (default archive/)")
    parser.add_argument("--report-prefix", default="reports/", help="report_prefix (default reports/)")
    parser.add_argument("--gcs-key-arn", help="the GCS key secret's ARN, as create-secret printed it")
    parser.add_argument("--subnets", help="comma-separated subnet ids for the task")
    parser.add_argument("--security-groups", help="comma-separated security group ids for the task")
    parser.add_argument("--image", help="the image URI (default: the account's ECR repository gcs2s3, tag 1)")
    parser.add_argument("--topic", default=EXAMPLE_TOPIC, help="the SNS topic's name (default gcs2s3-failures)")
    parser.add_argument("--out", type=Path, help="where to write (default deploy/out-<level>)")
    values = parser.parse_args(argv)
    if not re.fullmatch(r"\d{12}", values.account):
        parser.error(f"--account must be 12 digits, not {values.account!r}")
    if values.gcs_key_arn and not re.fullmatch(r"arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}",
                                               values.gcs_key_arn):
        parser.error("--gcs-key-arn must be the full ARN create-secret printed (ending in -XXXXXX)")
    out = values.out or HERE / f"out-{values.level.lower()}"
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        text = render((HERE / name).read_text(), values)
        json.loads(text)  # still JSON
        (out / name).write_text(text)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
