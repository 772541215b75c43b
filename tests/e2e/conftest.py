"""moto with Step Functions execution and Docker-free Lambda, fake credentials, one region."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from moto import mock_aws

from batcheval.aws import AwsClients
from tests.e2e.moto_sfn import MOTO_CONFIG

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
        "POWERTOOLS_SERVICE_NAME": "batcheval",
        "POWERTOOLS_METRICS_NAMESPACE": "batcheval",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    with mock_aws(config=cast(Any, MOTO_CONFIG)):
        clients = AwsClients(region=REGION)
        clients.client("s3").create_bucket(Bucket=BUCKET)
        yield clients
