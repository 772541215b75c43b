import os
import socket
import sys
import types

import pytest

from batcheval.errors import ValidationError
from batcheval.local.backend import connect_backend, handler_environment
from batcheval.local.emulator import EmbeddedEmulator


@pytest.fixture(scope="module")
def emulator():
    emulator = EmbeddedEmulator(table_name="t-jobs", bucket_name="t-payloads")
    emulator.start()
    yield emulator
    emulator.stop()


def test_emulator_creates_the_stacks_table_bucket_and_key(emulator):
    # Given a started emulator, Then the job table, payload bucket and stack key exist there
    backend = emulator.backend
    assert backend.endpoint_url == emulator.endpoint_url
    assert backend.endpoint_url.startswith("http://127.0.0.1:")
    assert "t-jobs" in backend.clients.client("dynamodb").list_tables()["TableNames"]
    assert (
        backend.clients.client("s3").head_bucket(Bucket="t-payloads")["ResponseMetadata"]["HTTPStatusCode"]
        == 200
    )
    key = backend.clients.client("kms").describe_key(KeyId=backend.kms_key_arn)["KeyMetadata"]
    assert key["Enabled"] is True
    assert backend.embedded is True


def test_handler_environment_points_handlers_at_the_emulator(emulator):
    env = emulator.backend.handler_environment(max_active_jobs=2, max_stored_jobs=5)
    assert env["BATCHEVAL_JOBS_TABLE"] == "t-jobs"
    assert env["BATCHEVAL_PAYLOAD_BUCKET"] == "t-payloads"
    assert env["BATCHEVAL_KMS_KEY_ARN"] == emulator.backend.kms_key_arn
    assert env["BATCHEVAL_AWS_ENDPOINT_URL"] == emulator.endpoint_url
    assert (env["BATCHEVAL_MAX_ACTIVE_JOBS"], env["BATCHEVAL_MAX_STORED_JOBS"]) == ("2", "5")
    assert env["AWS_REGION"] == "us-east-1"
    # fake credentials for the emulator, and no session token leaking in from the shell
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_SESSION_TOKEN"] is None


def test_without_quotas_the_handlers_defaults_apply(emulator):
    env = emulator.backend.handler_environment()
    assert "BATCHEVAL_MAX_ACTIVE_JOBS" not in env
    assert "BATCHEVAL_MAX_STORED_JOBS" not in env


def test_an_external_endpoint_gets_resources_only_when_asked(emulator, monkeypatch):
    # Given an AWS-compatible endpoint (here: the emulator) without our resources, and credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    endpoint = emulator.endpoint_url
    # When connecting without creating, Then a stack key is required
    with pytest.raises(ValidationError, match="KMS key"):
        connect_backend(
            region="us-east-1", endpoint_url=endpoint, table_name="x", bucket_name="y", kms_key_arn=None
        )
    ddb = emulator.backend.clients.client("dynamodb")
    assert "ext-jobs" not in ddb.list_tables()["TableNames"]
    # When asked to create, Then table, bucket and key are made
    backend = connect_backend(
        region="us-east-1",
        endpoint_url=endpoint,
        table_name="ext-jobs",
        bucket_name="ext-payloads",
        kms_key_arn=None,
        create_resources=True,
    )
    assert "ext-jobs" in ddb.list_tables()["TableNames"]
    assert backend.kms_key_arn.startswith("arn:aws:kms:us-east-1:")
    assert backend.embedded is False
    assert "AWS_ACCESS_KEY_ID" not in backend.handler_environment()


def test_handler_environment_sets_unsets_and_restores(monkeypatch):
    # Given a shell with a session token and a cached handler service
    monkeypatch.setenv("AWS_SESSION_TOKEN", "shell-token")
    monkeypatch.delenv("BATCHEVAL_JOBS_TABLE", raising=False)
    resets = []
    fake = types.ModuleType("batcheval.api.dependencies")
    fake.reset = lambda: resets.append(dict(os.environ))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "batcheval.api.dependencies", fake)
    # When handlers run inside handler_environment
    with handler_environment({"BATCHEVAL_JOBS_TABLE": "jobs", "AWS_SESSION_TOKEN": None}):
        assert os.environ["BATCHEVAL_JOBS_TABLE"] == "jobs"
        assert "AWS_SESSION_TOKEN" not in os.environ
        assert os.environ["POWERTOOLS_TRACE_DISABLED"] == "true"
    # Then the environment is back as it was, and the cached service was dropped on entry and exit
    assert "BATCHEVAL_JOBS_TABLE" not in os.environ
    assert os.environ["AWS_SESSION_TOKEN"] == "shell-token"
    assert len(resets) == 2
    assert resets[0]["BATCHEVAL_JOBS_TABLE"] == "jobs"


def test_a_stopped_emulator_frees_its_port():
    emulator = EmbeddedEmulator()
    emulator.start()
    host, port = emulator.endpoint_url.removeprefix("http://").split(":")
    emulator.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=1)
    with pytest.raises(RuntimeError, match="not started"):
        _ = emulator.backend
