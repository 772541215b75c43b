"""Creates the job table and payload bucket when missing: for tests and the local runtime.

In AWS the CDK stack owns these resources and must mirror this schema (docs/api.md):
table keys `pk` (S, HASH) + `sk` (S, RANGE), local secondary index `by_created` on
`pk` + `listKey` (S) projecting ALL, on-demand billing, TTL on `expiresAt`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from botocore.exceptions import ClientError

from batcheval.aws import AwsClients
from batcheval.jobs.store import LIST_INDEX, TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_s3.literals import BucketLocationConstraintType


def ensure_job_resources(clients: AwsClients, *, table_name: str, bucket_name: str) -> None:
    _ensure_table(clients, table_name)
    _ensure_bucket(clients, bucket_name)


def _ensure_table(clients: AwsClients, table_name: str) -> None:
    dynamodb = clients.client("dynamodb")
    try:
        dynamodb.create_table(
            TableName=table_name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "listKey", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            LocalSecondaryIndexes=[
                {
                    "IndexName": LIST_INDEX,
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "listKey", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1})
    # Expired clientToken records (TOKEN# items) are deleted by DynamoDB's TTL (enabling it twice fails).
    ttl = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )


def _ensure_bucket(clients: AwsClients, bucket_name: str) -> None:
    s3 = clients.client("s3")
    try:
        if clients.region == "us-east-1":
            s3.create_bucket(Bucket=bucket_name)
        else:
            s3.create_bucket(
                Bucket=bucket_name,
                CreateBucketConfiguration={
                    "LocationConstraint": cast("BucketLocationConstraintType", clients.region)
                },
            )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        }:
            raise
