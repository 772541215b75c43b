import subprocess
import sys

import boto3
import pytest

import batcheval


def _signed_scope(client) -> str:
    captured = {}

    def stop_before_send(request, **kwargs):
        captured["authorization"] = request.headers["Authorization"].decode()
        raise RuntimeError("stop")  # never hit the network

    client.meta.events.register("before-send.bedrock-agentcore.*", stop_before_send)
    with pytest.raises(RuntimeError, match="stop"):
        client.list_batch_evaluations()
    return captured["authorization"].split("Credential=")[1].split(",")[0]


def test_region_comes_from_the_argument_then_the_session_then_us_east_1(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    # Given a session configured for eu-west-1
    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="eu-west-1")
    # Then the client uses it, unless a region is passed; and signs for execute-api in that region
    from_session = batcheval.client(endpoint_url="http://127.0.0.1:1", session=session)
    assert from_session.meta.region_name == "eu-west-1"
    assert _signed_scope(from_session).endswith("/eu-west-1/execute-api/aws4_request")
    explicit = batcheval.client(endpoint_url="http://127.0.0.1:1", session=session, region_name="ap-south-1")
    assert explicit.meta.region_name == "ap-south-1"
    fallback = batcheval.client(
        endpoint_url="http://127.0.0.1:1",
        session=boto3.Session(aws_access_key_id="k", aws_secret_access_key="s"),
    )
    assert fallback.meta.region_name == "us-east-1"


def test_the_client_is_the_stock_bedrock_agentcore_client():
    client = batcheval.client(
        endpoint_url="http://127.0.0.1:1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    assert client.meta.service_model.service_name == "bedrock-agentcore"
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert hasattr(client, "start_batch_evaluation")


def test_importing_batcheval_does_not_load_boto3():
    # The CLI and every Lambda import the package; the client helper must not make that slower.
    code = "import sys, batcheval; print('boto3' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )
