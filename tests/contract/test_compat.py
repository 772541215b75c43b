"""Existing AgentCore code against batcheval: the official SDK and the AWS CLI, with one line each.

"Deployed" here means the local server accepting only `execute-api` signatures, as API Gateway does:
a request signed with the service's own name would be refused, so a passing call proves the one
line switched the signing.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import boto3
import botocore.handlers
import pytest

import batcheval
from batcheval.local import sigv4
from batcheval.local.gateway import SERVICE_SIGNATURE_WARNING, LocalGateway
from batcheval.local.proxy import ApiIdentity
from batcheval.local.server import LocalApiServer
from batcheval.local.sigv4 import DEFAULT_TENANT
from batcheval.product import demo
from tests.contract.support import REGION

LOG_GROUP = "/aws/bedrock-agentcore/runtimes/compat_agent-DEFAULT"
REQUEST = {
    "dataSourceConfig": {
        "cloudWatchLogs": {"serviceNames": ["compat_agent.DEFAULT"], "logGroupNames": [LOG_GROUP]}
    },
    "evaluators": [{"evaluatorId": "ThirdParty.Batcheval.ToolErrorRate"}],
}


@pytest.fixture
def deployed_signing(monkeypatch):
    """Make the local server as strict as API Gateway: only `execute-api` signatures."""
    monkeypatch.setattr(sigv4, "SIGNING_NAMES", frozenset({"execute-api"}))


@pytest.fixture
def credentials(monkeypatch, tenant):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", tenant.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", tenant.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return tenant


@pytest.fixture
def installed(local_api, credentials, monkeypatch) -> Iterator[None]:
    """`batcheval.install(endpoint_url=...)`, undone afterwards (it changes process-wide defaults)."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", raising=False)
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    handlers = list(botocore.handlers.BUILTIN_HANDLERS)
    default_session = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = None  # install() changes the default session: let it change a throwaway one
    batcheval.install(endpoint_url=local_api.url)
    yield
    botocore.handlers.BUILTIN_HANDLERS[:] = handlers
    boto3.DEFAULT_SESSION = default_session
    os.environ.pop("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", None)
    # monkeypatch restores only what existed before; install() added this one (the model extras)
    os.environ.pop("AWS_DATA_PATH", None)


def test_the_official_sdk_works_after_install(installed, deployed_signing):
    # Given the official SDK's clients, created after batcheval.install()
    from bedrock_agentcore.evaluation import EvaluationClient
    from bedrock_agentcore.evaluation.runner.batch.batch_evaluation_runner import BatchEvaluationRunner

    sdk = EvaluationClient(region_name=REGION)
    # When it starts and reads a batch evaluation through its pass-through methods
    started = sdk.start_batch_evaluation(batchEvaluationName="sdk_compat", **REQUEST)
    job = sdk.get_batch_evaluation(batchEvaluationId=started["batchEvaluationId"])
    # Then batcheval answered, with execute-api signatures (the strict server accepted them)
    assert job["batchEvaluationName"] == "sdk_compat"
    # And the runner (its own boto3.Session) reaches it too
    runner = BatchEvaluationRunner(region=REGION)
    listed = runner.data_plane_client.list_batch_evaluations()["batchEvaluations"]
    assert started["batchEvaluationId"] in [j["batchEvaluationId"] for j in listed]


def test_without_install_a_deployed_api_refuses_the_stock_signature(
    local_api, credentials, deployed_signing, monkeypatch
):
    # Given only the standard endpoint variable (what works against `batcheval serve`)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", local_api.url)
    client = boto3.Session().client("bedrock-agentcore", region_name=REGION)
    # When called against a server as strict as API Gateway, Then the signature is refused
    with pytest.raises(client.exceptions.ClientError, match="execute-api"):
        client.list_batch_evaluations()


def _aws(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awscli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_aws_cli_works_with_the_plugin(local_api, credentials, deployed_signing, tmp_path):
    # Given an AWS CLI config with the plugin enabled by one `aws configure set`
    env = {
        **os.environ,
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "c"),
    }
    configured = _aws("configure", "set", "plugins.batcheval", "batcheval.awscli_plugin", env=env)
    assert configured.returncode == 0, configured.stderr
    # When the stock command lists batch evaluations on the (strict) API
    listed = _aws("bedrock-agentcore", "list-batch-evaluations", "--endpoint-url", local_api.url, env=env)
    # Then it works, and the extension operation is a command too
    assert listed.returncode == 0, listed.stderr
    assert '"batchEvaluations"' in listed.stdout
    usage = _aws(
        "bedrock-agentcore",
        "retry-failed-batch-evaluation",
        "--batch-evaluation-id",
        "x",
        "--endpoint-url",
        local_api.url,
        env=env,
    )
    assert "Invalid choice" not in usage.stderr


def test_the_local_server_warns_once_about_the_service_signature(local_api, tenant, caplog, monkeypatch):
    # (another suite's logging.config call may have disabled existing loggers)
    monkeypatch.setattr(logging.getLogger("batcheval.local.gateway"), "disabled", False)
    # Given a fresh local server and a plain stock client (signs as bedrock-agentcore)
    gateway = LocalGateway(
        local_api.tenants, api=ApiIdentity(account_id=DEFAULT_TENANT.account_id), region=REGION
    )
    with (
        LocalApiServer(gateway, port=0) as server,
        caplog.at_level(logging.WARNING, "batcheval.local.gateway"),
    ):
        plain = boto3.Session().client(
            "bedrock-agentcore",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id=tenant.access_key,
            aws_secret_access_key=tenant.secret_key,
        )
        # When it calls three times
        for _ in range(3):
            plain.list_batch_evaluations()
        # And a client signed for execute-api calls too
        batcheval.client(
            server.url,
            region_name=REGION,
            aws_access_key_id=tenant.access_key,
            aws_secret_access_key=tenant.secret_key,
        ).list_batch_evaluations()
    # Then the warning naming the one-line fixes appeared exactly once
    warnings = [r.getMessage() for r in caplog.records if r.getMessage() == SERVICE_SIGNATURE_WARNING]
    assert len(warnings) == 1
    assert "batcheval.install(endpoint_url=...)" in warnings[0]
    assert "aws configure set plugins.batcheval batcheval.awscli_plugin" in warnings[0]


@pytest.fixture
def running_jobs(local_api, monkeypatch):
    """Jobs started through the local API run to the end (the local orchestration `serve` uses)."""
    from batcheval.api import dependencies
    from batcheval.api.settings import ApiSettings
    from batcheval.local.orchestrator import LocalOrchestrator

    monkeypatch.setenv("BATCHEVAL_DISCOVERY", "filter")
    backend = local_api.backend
    orchestrator = LocalOrchestrator(backend.clients, account_id=backend.kms_key_arn.split(":")[4])
    dependencies.use(
        dependencies.build_service(ApiSettings.from_env(), starter=orchestrator, clients=backend.clients)
    )
    yield backend
    orchestrator.close()
    dependencies.reset()


def test_the_sdk_waits_for_a_job_to_complete(installed, running_jobs, monkeypatch):
    # Given the service account's own tenant (its logs are the emulator's) and sample sessions there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_TENANT.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_TENANT.secret_key)
    from bedrock_agentcore.evaluation import EvaluationClient, WaitConfig

    sample = demo.seed_sessions(running_jobs, 3, io.StringIO())
    request = demo.build_request(sample, ["ThirdParty.Batcheval.ToolErrorRate"])
    request.pop("batchEvaluationName")
    # When the official SDK starts a job and waits for it
    job = EvaluationClient(region_name=REGION).start_batch_evaluation_and_wait(
        wait_config=WaitConfig(max_wait=120, poll_interval=1),
        batchEvaluationName=f"sdk_wait_{time.time_ns()}",
        **request,
    )
    # Then it returns the completed job, with batcheval's extensions visible through the stock client
    assert job["status"] == "COMPLETED"
    assert job["evaluationResults"]["totalNumberOfSessions"] == 3
    assert job["resultsExport"]["format"] == "JSONL"
