"""moto with Step Functions execution and Docker-free Lambda, fake credentials, one region."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from moto import mock_aws

from batcheval.aws import AwsClients
from tests.e2e.moto_sfn import MOTO_CONFIG
from tests.unit.jobs.moto_support import serializable_dynamodb

REGION = "us-east-1"
BUCKET = "batcheval-payloads"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsClients]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    with mock_aws(config=cast(Any, MOTO_CONFIG)):
        clients = AwsClients(region=REGION)
        clients.client("s3").create_bucket(Bucket=BUCKET)
        yield clients


_DYNAMODB_CALLS = (
    "transact_write_items",
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
)


@contextmanager
def isolated_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One moto DynamoDB call at a time, reads included.

    The machine's children, the API handlers and the test poll concurrently here; moto's backend is
    not thread-safe (a read iterating a table while a write changes it can raise inside moto and
    surface as an InternalServerException). DynamoDB makes each call atomic; this restores that.
    """
    with serializable_dynamodb(monkeypatch, _DYNAMODB_CALLS):
        yield
