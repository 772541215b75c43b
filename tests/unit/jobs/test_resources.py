from __future__ import annotations

import pytest
from moto import mock_aws

from batcheval.aws import AwsClients
from batcheval.jobs.resources import ensure_job_resources
from batcheval.jobs.store import LIST_INDEX


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_resources_are_created_once_and_reused(monkeypatch: pytest.MonkeyPatch, region: str):
    # Given an empty account in a Region
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        clients = AwsClients(region=region)

        # When ensuring the resources twice
        ensure_job_resources(clients, table_name="jobs", bucket_name="payloads")
        ensure_job_resources(clients, table_name="jobs", bucket_name="payloads")

        # Then the table has the documented keys and list index, and the bucket exists
        table = clients.client("dynamodb").describe_table(TableName="jobs")["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
            ("pk", "HASH"),
            ("sk", "RANGE"),
        ]
        (index,) = table["LocalSecondaryIndexes"]
        assert index["IndexName"] == LIST_INDEX
        assert [k["AttributeName"] for k in index["KeySchema"]] == ["pk", "listKey"]
        assert (
            clients.client("s3").head_bucket(Bucket="payloads")["ResponseMetadata"]["HTTPStatusCode"] == 200
        )
