"""Translation between HTTP and API Gateway's REST (v1) Lambda proxy integration format.

`build_proxy_event` produces the event API Gateway would send for an IAM-authorized request;
`proxy_result_to_http` applies API Gateway's rules to what the handler returned.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from batcheval.local.messages import HttpRequest, HttpResponse
from batcheval.local.routes import RouteMatch
from batcheval.local.sigv4 import VerifiedCaller


@dataclass(frozen=True, slots=True)
class ApiIdentity:
    """Fixed facts about the emulated API: the account that owns it, its id and stage."""

    account_id: str
    api_id: str = "batchevallocal"
    stage: str = "local"


class InvalidProxyResultError(Exception):
    """The handler returned something API Gateway could not turn into an HTTP response."""


def build_proxy_event(
    request: HttpRequest,
    matched: RouteMatch,
    caller: VerifiedCaller,
    api: ApiIdentity,
    *,
    request_id: str,
    now: datetime,
) -> dict[str, Any]:
    """The REST API proxy event for `request`, with the IAM caller in `requestContext.identity`."""
    headers, multi_headers = _single_and_multi(request.headers)
    query_pairs = parse_qsl(request.raw_query, keep_blank_values=True)
    query, multi_query = _single_and_multi(query_pairs)
    body, is_base64 = _event_body(request.body)
    tenant = caller.tenant
    path = request.raw_path
    return {
        "resource": matched.route.path,
        "path": path,
        "httpMethod": matched.route.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(matched.path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": matched.route.operation,
            "resourcePath": matched.route.path,
            "operationName": matched.route.operation,
            "httpMethod": matched.route.method,
            "extendedRequestId": request_id,
            "requestTime": now.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{api.stage}{path}",
            # As on API Gateway: the account that owns the API, not the caller's (that is identity.accountId).
            "accountId": api.account_id,
            "protocol": "HTTP/1.1",
            "stage": api.stage,
            "domainPrefix": api.api_id,
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": tenant.account_id,
                "cognitoIdentityId": None,
                "caller": tenant.user_id,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "accessKey": caller.access_key,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": tenant.user_arn,
                "userAgent": request.header("user-agent"),
                "user": tenant.user_id,
            },
            "domainName": f"{api.api_id}.execute-api.localhost",
            "apiId": api.api_id,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def new_request_id() -> str:
    return str(uuid.uuid4())


def proxy_result_to_http(result: object, *, request_id: str) -> HttpResponse:
    """Apply API Gateway's proxy-integration rules to a handler result.

    Raises InvalidProxyResultError for anything API Gateway would reject as a malformed Lambda
    proxy response.
    """
    if not isinstance(result, Mapping):
        raise InvalidProxyResultError(f"handler returned {type(result).__name__}, not an object")
    status = result.get("statusCode")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise InvalidProxyResultError(f"statusCode {status!r} is not an HTTP status")
    headers = _merge_result_headers(result.get("headers"), result.get("multiValueHeaders"))
    body = _result_body(result.get("body"), result.get("isBase64Encoded", False))
    names = {name.lower() for name, _ in headers}
    if "content-type" not in names:
        headers.append(("Content-Type", "application/json"))  # API Gateway's default for proxy results
    if "x-amzn-requestid" not in names:  # the handlers echo requestContext.requestId themselves
        headers.append(("x-amzn-RequestId", request_id))
    return HttpResponse(status=status, headers=headers, body=body)


def error_response(status: int, error_type: str, message: str, *, request_id: str) -> HttpResponse:
    """A response in the shape both API Gateway and the service use: header type, JSON `message`."""
    return HttpResponse(
        status=status,
        headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", error_type),
            ("x-amzn-RequestId", request_id),
        ],
        body=msgspec.json.encode({"message": message}),
    )


def _single_and_multi(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """API Gateway's two views: last value wins in the single map, all values in the multi map."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def _event_body(body: bytes) -> tuple[str | None, bool]:
    """Text bodies pass as text; bytes that are not UTF-8 pass base64-encoded so nothing is lost."""
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _merge_result_headers(headers: object, multi: object) -> list[tuple[str, str]]:
    """Merge `headers` and `multiValueHeaders`; for a name in both, `multiValueHeaders` wins."""
    merged: list[tuple[str, str]] = []
    seen: set[str] = set()
    if multi is not None:
        if not isinstance(multi, Mapping):
            raise InvalidProxyResultError("multiValueHeaders is not an object")
        for name, values in multi.items():
            if not isinstance(values, list):
                raise InvalidProxyResultError(f"multiValueHeaders[{name!r}] is not a list")
            merged.extend((str(name), _header_value(value)) for value in values)
            seen.add(str(name).lower())
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise InvalidProxyResultError("headers is not an object")
        merged.extend(
            (str(name), _header_value(value))
            for name, value in headers.items()
            if str(name).lower() not in seen
        )
    return merged


def _header_value(value: object) -> str:
    if isinstance(value, str | int | float | bool):
        return str(value).replace("\r", " ").replace("\n", " ")
    raise InvalidProxyResultError(f"header value {value!r} is not a scalar")


def _result_body(body: object, is_base64: object) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        raise InvalidProxyResultError("body is not a string")
    if is_base64 is True:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise InvalidProxyResultError("body is not valid base64") from exc
    return body.encode("utf-8")
