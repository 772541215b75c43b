import base64
from datetime import UTC, datetime

import pytest

from batcheval.local.messages import HttpRequest
from batcheval.local.proxy import (
    ApiIdentity,
    InvalidProxyResultError,
    build_proxy_event,
    proxy_result_to_http,
)
from batcheval.local.routes import match_route
from batcheval.local.sigv4 import Tenant, VerifiedCaller

NOW = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)
ALICE = Tenant("AKALICE", "s", "111111111111", user_name="alice")
CALLER = VerifiedCaller(ALICE, "AKALICE", "us-east-1", "execute-api", None)
API = ApiIdentity(account_id="999999999999")


def _event(method="GET", path="/evaluations/batch-evaluate", query="", headers=(), body=b""):
    request = HttpRequest(method, path, query, list(headers), body, source_ip="10.0.0.1")
    matched = match_route(method, path)
    assert matched is not None
    return build_proxy_event(request, matched, CALLER, API, request_id="req-1", now=NOW)


def test_event_carries_the_callers_identity_and_the_api_owner_separately():
    event = _event(headers=[("User-Agent", "Boto3/1.44.5")])
    context = event["requestContext"]
    # Then the tenant is the caller's account; requestContext.accountId is the API owner's, as on AWS
    assert context["identity"]["accountId"] == "111111111111"
    assert context["accountId"] == "999999999999"
    assert context["identity"]["userArn"] == "arn:aws:iam::111111111111:user/alice"
    assert context["identity"]["caller"] == ALICE.user_id
    assert context["identity"]["accessKey"] == "AKALICE"
    assert context["identity"]["sourceIp"] == "10.0.0.1"
    assert context["identity"]["userAgent"] == "Boto3/1.44.5"
    assert (context["requestId"], context["stage"], context["httpMethod"]) == ("req-1", "local", "GET")
    assert context["resourcePath"] == event["resource"] == "/evaluations/batch-evaluate"
    assert context["requestTimeEpoch"] == int(NOW.timestamp() * 1000)


def test_empty_parts_are_null_as_on_api_gateway():
    event = _event()
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None


def test_path_parameters_are_decoded_and_query_has_single_and_multi_views():
    event = _event(path="/evaluations/batch-evaluate/be%2F1%20x")
    assert event["pathParameters"] == {"batchEvaluationId": "be/1 x"}
    assert event["path"] == "/evaluations/batch-evaluate/be%2F1%20x"
    listing = _event(query="maxResults=5&nextToken=a%2Bb%3D&x=1&x=2")
    assert listing["queryStringParameters"] == {"maxResults": "5", "nextToken": "a+b=", "x": "2"}
    assert listing["multiValueQueryStringParameters"]["x"] == ["1", "2"]


def test_headers_have_single_and_multi_views():
    event = _event(headers=[("X-Thing", "a"), ("X-Thing", "b"), ("Content-Type", "application/json")])
    assert event["headers"]["X-Thing"] == "b"
    assert event["multiValueHeaders"]["X-Thing"] == ["a", "b"]


def test_text_body_is_passed_as_text_and_binary_as_base64():
    assert _event(method="POST", body=b'{"a":1}')["body"] == '{"a":1}'
    binary = _event(method="POST", body=b"\xff\xfe")
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\xfe"


def test_result_headers_merge_with_multi_value_headers_winning():
    response = proxy_result_to_http(
        {
            "statusCode": 202,
            "headers": {"X-A": "single", "X-B": "kept"},
            "multiValueHeaders": {"X-A": ["m1", "m2"]},
            "body": '{"ok":true}',
        },
        request_id="req-1",
    )
    assert response.status == 202
    assert [v for k, v in response.headers if k == "X-A"] == ["m1", "m2"]
    assert response.header("X-B") == "kept"
    assert response.header("Content-Type") == "application/json"
    assert response.header("x-amzn-RequestId") == "req-1"
    assert response.body == b'{"ok":true}'


def test_base64_result_body_is_decoded():
    response = proxy_result_to_http(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True},
        request_id="r",
    )
    assert response.body == b"\x00\x01"


@pytest.mark.parametrize(
    "result",
    [
        None,
        "oops",
        {},
        {"statusCode": "200"},
        {"statusCode": 999},
        {"statusCode": True},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "multiValueHeaders": {"X": "not-a-list"}},
        {"statusCode": 200, "headers": {"X": {"nested": 1}}},
        {"statusCode": 200, "body": "!!!", "isBase64Encoded": True},
    ],
)
def test_malformed_results_are_rejected(result):
    with pytest.raises(InvalidProxyResultError):
        proxy_result_to_http(result, request_id="r")


def test_a_request_id_set_by_the_handler_is_not_repeated():
    response = proxy_result_to_http(
        {"statusCode": 404, "headers": {"x-amzn-RequestId": "req-1"}, "body": "{}"}, request_id="req-1"
    )
    assert [k for k, _ in response.headers if k.lower() == "x-amzn-requestid"] == ["x-amzn-RequestId"]
