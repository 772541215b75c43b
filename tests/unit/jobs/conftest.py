from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from batcheval.aws import AwsClients
from batcheval.jobs.page_tokens import PageTokenCodec
from batcheval.jobs.payloads import PayloadStore
from batcheval.jobs.resources import ensure_job_resources
from batcheval.jobs.service import JobService
from batcheval.jobs.starter import NoOpStarter
from batcheval.jobs.store import JobStore
from tests.unit.jobs.moto_support import serializable_dynamodb

TABLE = "jobs"
BUCKET = "payloads"
OWNER = "111111111111"
OTHER = "222222222222"


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    """One botocore session for all tests: it caches the service models (~80 ms per new client)."""
    return boto3.Session(region_name="us-east-1")


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch, boto_session: boto3.Session) -> Iterator[AwsClients]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with serializable_dynamodb(monkeypatch), mock_aws():
        aws = AwsClients(region="us-east-1", session=boto_session)
        ensure_job_resources(aws, table_name=TABLE, bucket_name=BUCKET)
        yield aws


@pytest.fixture
def stack_key(clients: AwsClients) -> str:
    return clients.client("kms").create_key(Description="stack key")["KeyMetadata"]["Arn"]


def build_service(clients: AwsClients, stack_key: str, **overrides: object) -> JobService:
    options: dict[str, object] = {
        "store": JobStore(clients.client("dynamodb"), TABLE),
        "payloads": PayloadStore(clients.client("s3"), clients.client("kms"), BUCKET),
        "page_tokens": PageTokenCodec(clients.client("kms"), stack_key),
        "starter": NoOpStarter(),
        "region": "us-east-1",
        "partition": "aws",
        "default_kms_key_arn": stack_key,
        "max_active_jobs": 5,
        "max_stored_jobs": 2000,
    }
    options.update(overrides)
    return JobService(**options)  # type: ignore[arg-type]


@pytest.fixture
def service(clients: AwsClients, stack_key: str) -> JobService:
    return build_service(clients, stack_key)


def start_request(name: str = "nightly", token: str | None = None, **extra: object) -> dict[str, object]:
    request: dict[str, object] = {
        "batchEvaluationName": name,
        "dataSourceConfig": {"cloudWatchLogs": {"serviceNames": ["agent.DEFAULT"], "logGroupNames": ["g"]}},
        "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}],
    }
    if token is not None:
        request["clientToken"] = token
    request.update(extra)
    return request
