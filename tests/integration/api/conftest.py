"""Call the real Lambda handlers with API Gateway REST proxy events, against moto."""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from batcheval.api import dependencies
from batcheval.api.settings import ApiSettings
from batcheval.aws import AwsClients
from batcheval.jobs.resources import ensure_job_resources
from tests.unit.jobs.moto_support import serializable_dynamodb

TABLE = "batcheval-jobs"
BUCKET = "batcheval-payloads"
REGION = "us-east-1"
OWNER = "111111111111"
OTHER = "222222222222"

HANDLERS = {
    "start": "batcheval.api.handlers.start_batch_evaluation",
    "get": "batcheval.api.handlers.get_batch_evaluation",
    "list": "batcheval.api.handlers.list_batch_evaluations",
    "stop": "batcheval.api.handlers.stop_batch_evaluation",
    "delete": "batcheval.api.handlers.delete_batch_evaluation",
    "retry_failed": "batcheval.api.handlers.retry_failed_batch_evaluation",
}
RESOURCES = {
    "start": ("POST", "/evaluations/batch-evaluate"),
    "get": ("GET", "/evaluations/batch-evaluate/{batchEvaluationId}"),
    "list": ("GET", "/evaluations/batch-evaluate"),
    "stop": ("POST", "/evaluations/batch-evaluate/{batchEvaluationId}/stop"),
    "delete": ("DELETE", "/evaluations/batch-evaluate/{batchEvaluationId}"),
    "retry_failed": ("POST", "/evaluations/batch-evaluate/{batchEvaluationId}/retry-failed"),
}


class FakeLambdaContext:
    function_name = "batcheval-api"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:999999999999:function:batcheval-api"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-ErrorType")


def api_event(
    operation: str,
    *,
    job_id: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    account: str | None = OWNER,
    content_type: str | None = "application/json",
    method: str | None = None,
    path: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event (v1) as API Gateway with AWS_IAM auth would send it."""
    resource_method, resource = RESOURCES[operation]
    actual_path = path or resource.replace("{batchEvaluationId}", job_id or "")
    headers = {"Host": "api.example.com"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    identity: dict[str, Any] = {"sourceIp": "127.0.0.1"}
    if account is not None:
        identity.update(accountId=account, caller="AIDAEXAMPLE", userArn=f"arn:aws:iam::{account}:user/u")
    return {
        "resource": resource,
        "path": actual_path,
        "httpMethod": method or resource_method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"batchEvaluationId": job_id} if job_id is not None else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "999999999999" if account is not None else None,
            "resourcePath": resource,
            "httpMethod": method or resource_method,
            "requestId": str(uuid.uuid4()),
            "stage": "prod",
            "identity": identity,
        },
        "body": text,
        "isBase64Encoded": False,
    }


def invoke(operation: str, event: dict[str, Any]) -> ApiResponse:
    module = importlib.import_module(HANDLERS[operation])
    raw = module.lambda_handler(event, FakeLambdaContext())
    headers = {key: values[-1] for key, values in (raw.get("multiValueHeaders") or {}).items()}
    headers.update(raw.get("headers") or {})
    body = json.loads(raw["body"]) if raw.get("body") else {}
    return ApiResponse(raw["statusCode"], headers, body)


def start_body(name: str = "nightly", token: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "batchEvaluationName": name,
        "dataSourceConfig": {
            "cloudWatchLogs": {"serviceNames": ["agent.DEFAULT"], "logGroupNames": ["/aws/spans"]}
        },
        "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}],
        "clientToken": token or str(uuid.uuid4()),
    }
    body.update(extra)
    return body


class Api:
    """Shorthands for the five operations as one tenant."""

    def __init__(self, account: str = OWNER) -> None:
        self.account = account

    def start(self, body: dict[str, Any]) -> ApiResponse:
        return invoke("start", api_event("start", body=body, account=self.account))

    def get(self, job_id: str) -> ApiResponse:
        return invoke("get", api_event("get", job_id=job_id, account=self.account, content_type=None))

    def list(self, **query: str) -> ApiResponse:
        return invoke("list", api_event("list", query=query or None, account=self.account, content_type=None))

    def stop(self, job_id: str) -> ApiResponse:
        return invoke("stop", api_event("stop", job_id=job_id, account=self.account, content_type=None))

    def delete(self, job_id: str) -> ApiResponse:
        return invoke("delete", api_event("delete", job_id=job_id, account=self.account, content_type=None))


@dataclass
class Stack:
    clients: AwsClients
    key_arn: str


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    """One botocore session for all tests: it caches the service models (~80 ms per new client)."""
    return boto3.Session(region_name=REGION)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, boto_session: boto3.Session) -> Iterator[Stack]:
    """moto resources plus the handler environment a deployed stack would give."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "BATCHEVAL_JOBS_TABLE": TABLE,
        "BATCHEVAL_PAYLOAD_BUCKET": BUCKET,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "BATCHEVAL_AWS_ENDPOINT_URL", "BATCHEVAL_MAX_ACTIVE_JOBS"):
        monkeypatch.delenv(name, raising=False)
    with serializable_dynamodb(monkeypatch), mock_aws():
        clients = AwsClients(region=REGION, session=boto_session)
        ensure_job_resources(clients, table_name=TABLE, bucket_name=BUCKET)
        key_arn = clients.client("kms").create_key(Description="stack key")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("BATCHEVAL_KMS_KEY_ARN", key_arn)
        # The handlers' service, from the environment as at a cold start, sharing the test's clients.
        # (Tests that change the environment call dependencies.reset(): the service is rebuilt.)
        dependencies.use(dependencies.build_service(ApiSettings.from_env(), clients=clients))
        try:
            yield Stack(clients, key_arn)
        finally:
            dependencies.reset()


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(OWNER)


@pytest.fixture
def other_api(stack: Stack) -> Api:
    return Api(OTHER)
