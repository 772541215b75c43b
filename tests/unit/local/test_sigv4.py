from datetime import UTC, datetime, timedelta

import pytest

from batcheval.errors import (
    IncompleteSignatureError,
    InvalidSignatureError,
    MissingAuthenticationTokenError,
    UnrecognizedClientError,
    ValidationError,
)
from batcheval.local.messages import HttpRequest
from batcheval.local.sigv4 import Tenant, TenantRegistry, verify_request
from tests.unit.local.signing import sign

NOW = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)
HOST = "127.0.0.1:8787"
ALICE = Tenant("AKALICE", "alice-secret", "111111111111", user_name="alice")
BOB = Tenant("AKBOB", "bob-secret", "222222222222")
TENANTS = TenantRegistry([ALICE, BOB])
REGION = "eu-west-1"


def _verify(request, tenants, *, now):
    return verify_request(request, tenants, now=now, region=REGION)


def _request(method="GET", path="/evaluations/batch-evaluate", query="", body=b"", **sign_kwargs):
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    sign_kwargs.setdefault("access_key", ALICE.access_key)
    sign_kwargs.setdefault("secret_key", ALICE.secret_key)
    sign_kwargs.setdefault("when", NOW)
    sign_kwargs.setdefault("region", REGION)
    headers = sign(method, url, body=body, **sign_kwargs)
    return HttpRequest(method=method, raw_path=path, raw_query=query, headers=headers, body=body)


def _replace_header(request, name, value):
    headers = [(k, v) for k, v in request.headers if k.lower() != name.lower()]
    if value is not None:
        headers.append((name, value))
    return HttpRequest(request.method, request.raw_path, request.raw_query, headers, request.body)


@pytest.mark.parametrize("service", ["execute-api", "bedrock-agentcore"])
def test_a_correctly_signed_request_identifies_its_tenant(service):
    # Given a request signed by Alice under either accepted signing name
    request = _request(service=service)
    # When it is verified
    caller = _verify(request, TENANTS, now=NOW)
    # Then the caller is Alice, in the region she signed for
    assert caller.tenant == ALICE
    assert (caller.region, caller.signing_name, caller.access_key) == ("eu-west-1", service, "AKALICE")


def test_percent_encoded_path_and_query_verify_as_sent():
    # Given an id with characters boto3 percent-encodes, and an encoded query
    request = _request(
        method="POST",
        path="/evaluations/batch-evaluate/be%2F1%20x/stop",
        query="maxResults=5&nextToken=a%2Bb%3D",
    )
    # Then the signature verifies against the path exactly as received
    assert _verify(request, TENANTS, now=NOW).tenant == ALICE


def test_a_tampered_body_fails_with_api_gateways_mismatch_message():
    # Given a signed POST whose body changed in transit
    request = _request(method="POST", body=b'{"a": 1}')
    tampered = HttpRequest(request.method, request.raw_path, request.raw_query, request.headers, b'{"a": 2}')
    # Then it is an InvalidSignature with the canonical request, for debugging
    with pytest.raises(InvalidSignatureError) as exc:
        _verify(tampered, TENANTS, now=NOW)
    assert exc.value.message.startswith("The request signature we calculated does not match")
    assert "The Canonical String for this request should have been" in exc.value.message


def test_a_wrong_secret_is_an_invalid_signature():
    with pytest.raises(InvalidSignatureError):
        _verify(_request(secret_key="not-alices"), TENANTS, now=NOW)


def test_a_signature_of_another_tenant_does_not_verify_as_alice():
    # Given Bob signs with his secret but claims Alice's key
    request = _request(access_key=ALICE.access_key, secret_key=BOB.secret_key)
    with pytest.raises(InvalidSignatureError):
        _verify(request, TENANTS, now=NOW)


def test_an_unknown_access_key_is_an_unrecognized_client():
    with pytest.raises(UnrecognizedClientError) as exc:
        _verify(_request(access_key="AKNOBODY"), TENANTS, now=NOW)
    assert exc.value.message == "The security token included in the request is invalid."
    assert exc.value.http_status == 403


def test_no_authorization_header_is_a_missing_authentication_token():
    request = _replace_header(_request(), "Authorization", None)
    with pytest.raises(MissingAuthenticationTokenError) as exc:
        _verify(request, TENANTS, now=NOW)
    assert exc.value.message == "Missing Authentication Token"


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("Bearer abc", "missing equal-sign"),
        ("AWS4-HMAC-SHA256 Credential=AKALICE/20261126/us-east-1/execute-api/aws4_request", "'Signature'"),
        (
            "AWS4-HMAC-SHA256 Credential=AKALICE/20261126, SignedHeaders=host, Signature=ab",
            "5 slash-delimited",
        ),
        ("AWS4-HMAC-SHA256 Credential", "missing equal-sign"),
    ],
)
def test_malformed_authorization_is_an_incomplete_signature(authorization, expected):
    request = _replace_header(_request(), "Authorization", authorization)
    with pytest.raises(IncompleteSignatureError) as exc:
        _verify(request, TENANTS, now=NOW)
    assert expected in exc.value.message


def test_a_request_without_a_date_is_an_incomplete_signature():
    request = _replace_header(_request(), "X-Amz-Date", None)
    with pytest.raises(IncompleteSignatureError, match="'X-Amz-Date' or a 'Date' header"):
        _verify(request, TENANTS, now=NOW)


@pytest.mark.parametrize(
    ("skew", "accepted"),
    [
        (timedelta(minutes=-4, seconds=-59), True),
        (timedelta(minutes=4, seconds=59), True),
        (timedelta(minutes=-5, seconds=-1), False),
        (timedelta(minutes=5, seconds=1), False),
    ],
)
def test_clock_skew_up_to_five_minutes_is_accepted(skew, accepted):
    # Given a request signed `skew` away from the server's clock
    request = _request(when=NOW + skew)
    # Then it verifies only within five minutes either way
    if accepted:
        assert _verify(request, TENANTS, now=NOW).tenant == ALICE
    else:
        with pytest.raises(InvalidSignatureError, match=r"Signature (expired|not yet current)"):
            _verify(request, TENANTS, now=NOW)


def test_expired_message_matches_api_gateway():
    request = _request(when=NOW - timedelta(minutes=10))
    with pytest.raises(InvalidSignatureError) as exc:
        _verify(request, TENANTS, now=NOW)
    assert exc.value.message == (
        "Signature expired: 20261126T065000Z is now earlier than 20261126T065500Z (20261126T070000Z - 5 min.)"
    )


def test_another_signing_name_is_rejected():
    with pytest.raises(InvalidSignatureError, match="scoped to correct service: 'execute-api'"):
        _verify(_request(service="s3"), TENANTS, now=NOW)


def test_a_signature_for_another_region_is_rejected_with_api_gateways_message():
    # Given requests signed for us-east-1 (and one also for another service) sent to an API in eu-west-1
    # When verified, Then API Gateway's messages come back, region first, both when both are wrong
    with pytest.raises(InvalidSignatureError) as exc:
        _verify(_request(region="us-east-1"), TENANTS, now=NOW)
    assert exc.value.message == "Credential should be scoped to a valid region, not 'us-east-1'. "
    with pytest.raises(InvalidSignatureError) as exc:
        _verify(_request(region="us-east-1", service="s3"), TENANTS, now=NOW)
    assert exc.value.message == (
        "Credential should be scoped to a valid region, not 'us-east-1'. "
        "Credential should be scoped to correct service: 'execute-api'. "
    )


def test_a_content_hash_header_that_lies_about_the_body_is_rejected():
    # Given a signed x-amz-content-sha256 that does not match the body sent
    fake_hash = "0" * 64
    request = _request(method="POST", body=b"{}", headers={"X-Amz-Content-SHA256": fake_hash})
    with pytest.raises(InvalidSignatureError, match="x-amz-content-sha256"):
        _verify(request, TENANTS, now=NOW)


def test_security_token_is_part_of_the_signature():
    # Given temporary credentials: the token is signed along with the request
    request = _request(token="session-token-1")
    assert _verify(request, TENANTS, now=NOW).security_token == "session-token-1"
    # When the token is swapped after signing, Then the signature no longer matches
    with pytest.raises(InvalidSignatureError):
        _verify(_replace_header(request, "X-Amz-Security-Token", "other"), TENANTS, now=NOW)


def test_a_tenant_with_a_configured_token_requires_it():
    tenants = TenantRegistry([Tenant("AKTMP", "tmp-secret", "333333333333", session_token="tok")])
    good = _request(access_key="AKTMP", secret_key="tmp-secret", token="tok")
    assert _verify(good, tenants, now=NOW).tenant.account_id == "333333333333"
    bad = _request(access_key="AKTMP", secret_key="tmp-secret", token="stolen")
    with pytest.raises(UnrecognizedClientError):
        _verify(bad, tenants, now=NOW)


def test_unsigned_host_is_rejected():
    request = _request()
    authorization = dict(request.headers)["Authorization"].replace(
        "SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date"
    )
    with pytest.raises(InvalidSignatureError, match="'Host' must be a 'SignedHeader'"):
        _verify(_replace_header(request, "Authorization", authorization), TENANTS, now=NOW)


def test_tenant_spec_parses_and_rejects_bad_input():
    assert Tenant.parse("AK:SECRET:123456789012") == Tenant("AK", "SECRET", "123456789012")
    for bad in ("AK:SECRET", "AK::123456789012", "AK:SECRET:12345", "AK:S:E:123456789012"):
        with pytest.raises(ValidationError):
            Tenant.parse(bad)


def test_identity_of_a_tenant_looks_like_iam():
    assert ALICE.user_arn == "arn:aws:iam::111111111111:user/alice"
    assert ALICE.user_id.startswith("AIDA")
    assert len(ALICE.user_id) == 21
    assert ALICE.user_id != BOB.user_id


def test_registry_refuses_one_key_with_two_secrets():
    registry = TenantRegistry([ALICE])
    registry.add(ALICE)  # idempotent
    with pytest.raises(ValidationError):
        registry.add(Tenant(ALICE.access_key, "other", ALICE.account_id))
