"""SigV4 at the front door: what API Gateway answers for unsigned, badly signed or stale requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batcheval.local.sigv4 import Tenant
from tests.contract.support import no_state_change, start_request

LIST = "/evaluations/batch-evaluate"


def _start_body(name: str) -> bytes:
    import json

    return json.dumps(start_request(name)).encode()


@pytest.mark.parametrize(
    ("kwargs", "status", "error_type", "message"),
    [
        ({"signed": False}, 403, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        ({"secret_key": "wrong"}, 403, "InvalidSignatureException", "The request signature we calculated"),
        (
            {"when": datetime.now(UTC) - timedelta(minutes=6)},
            403,
            "InvalidSignatureException",
            "Signature expired",
        ),
        (
            {"when": datetime.now(UTC) + timedelta(minutes=6)},
            403,
            "InvalidSignatureException",
            "Signature not yet current",
        ),
    ],
)
def test_requests_that_fail_authentication_change_nothing(
    local_api, agentcore, tenant, kwargs, status, error_type, message
):
    with no_state_change(agentcore):
        response = local_api.raw(
            "POST",
            LIST,
            body=_start_body("unauthenticated"),
            headers={"Content-Type": "application/json"},
            tenant=tenant,
            **kwargs,
        )
    assert (response.status, response.error_type) == (status, error_type)
    assert response.json()["message"].startswith(message)


def test_an_unknown_access_key_is_unrecognized(local_api, agentcore):
    stranger = local_api.client(Tenant("AKSTRANGER", "secret", "333333333333"))
    with pytest.raises(stranger.exceptions.ClientError) as exc:
        stranger.list_batch_evaluations()
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_body_changed_after_signing_is_rejected(local_api, agentcore, tenant):
    # Given a request signed for one body, sent with another (raw, signed by hand)
    from tests.unit.local.signing import sign

    body = _start_body("signed_body")
    headers = dict(
        sign(
            "POST",
            f"{local_api.url}{LIST}",
            body=body,
            access_key=tenant.access_key,
            secret_key=tenant.secret_key,
            headers={"Content-Type": "application/json"},
        )
    )
    with no_state_change(agentcore):
        response = local_api.raw(
            "POST", LIST, body=_start_body("tampered_body"), headers=headers, signed=False
        )
    assert (response.status, response.error_type) == (403, "InvalidSignatureException")


def test_unknown_routes_look_like_api_gateway(local_api, tenant):
    response = local_api.raw("GET", "/evaluations", tenant=tenant)
    assert (response.status, response.error_type) == (403, "MissingAuthenticationTokenException")
    assert response.json() == {"message": "Missing Authentication Token"}


def test_temporary_credentials_with_a_session_token_are_accepted(local_api, tenant):
    # Given a caller using temporary credentials (boto3 signs the x-amz-security-token header)
    import batcheval

    client = batcheval.client(
        endpoint_url=local_api.url,
        region_name="us-east-1",
        aws_access_key_id=tenant.access_key,
        aws_secret_access_key=tenant.secret_key,
        aws_session_token="FwoGZXIvYXdzEXAMPLETOKEN",
    )
    # Then the API accepts the signature
    assert client.list_batch_evaluations()["batchEvaluations"] == []


def test_a_client_configured_for_another_region_is_refused_and_changes_nothing(local_api, agentcore, tenant):
    # Given the stock client, signing for eu-west-1, calling the API in us-east-1
    import boto3

    from tests.contract.support import NO_RETRIES

    client = boto3.client(
        "bedrock-agentcore",
        endpoint_url=local_api.url,
        region_name="eu-west-1",
        config=NO_RETRIES,
        aws_access_key_id=tenant.access_key,
        aws_secret_access_key=tenant.secret_key,
    )
    # When it starts a job, Then API Gateway's answer comes back and nothing was created
    with no_state_change(agentcore), pytest.raises(client.exceptions.ClientError) as exc:
        client.start_batch_evaluation(**start_request("wrong_region"))
    error = exc.value.response["Error"]
    assert (error["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "InvalidSignatureException",
        403,
    )
    assert error["Message"] == "Credential should be scoped to a valid region, not 'eu-west-1'. "
