"""Property-based fuzzing of the five operations through the local server, driven by the botocore model.

Inputs are generated from each operation's input shape in botocore's `bedrock-agentcore` model: mostly
well-formed members with, at every level, a chance of a wrong type, a missing required member, an
unknown member, an out-of-range number or free text where a pattern is expected. Whatever comes in,
the answer is a success or an AWS-shaped 4xx (JSON `message` + `x-amzn-ErrorType`, ≤ 64 KB), never
a 5xx, a hang or HTML, and a refused request changes nothing the caller owns.

Budget: `BATCHEVAL_FUZZ_EXAMPLES` examples per operation (default 25, for `make test`); a longer
run by hand: `BATCHEVAL_FUZZ_EXAMPLES=2000 .venv/bin/pytest -q tests/contract/test_fuzz.py
--hypothesis-show-statistics` (the statistics count answers by status and error type).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import botocore.session
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from batcheval.local.sigv4 import Tenant
from tests.contract.support import LocalApi, RawResponse, start_request

EXAMPLES = int(os.environ.get("BATCHEVAL_FUZZ_EXAMPLES", "25"))
MAX_RESPONSE_BYTES = 64 * 1024
MODEL = botocore.session.get_session().get_service_model("bedrock-agentcore")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 100,  # the bounded run in `make test` is the same every time
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _string(shape: Any) -> st.SearchStrategy[Any]:
    if shape.enum:
        return st.sampled_from(shape.enum) | st.text(max_size=20)
    limit = shape.metadata.get("max", 64)
    pattern = shape.metadata.get("pattern")
    free = st.text(min_size=shape.metadata.get("min", 0), max_size=min(limit, 64))
    if pattern:
        try:
            return st.from_regex(f"^(?:{pattern})$", fullmatch=True).filter(lambda s: len(s) <= limit) | free
        except re.error:  # a pattern Python's re cannot compile: free text only
            return free
    if limit > 1_000:  # hypothesis does not generate texts this long; the bounded tests cover them
        return free
    return free | st.text(min_size=limit, max_size=limit + 2)


def from_shape(shape: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a botocore shape: mostly conforming, sometimes any JSON instead."""
    kind = shape.type_name
    if depth > 6:
        return json_scalars
    if kind == "structure":
        members = {name: from_shape(member, depth + 1) for name, member in shape.members.items()}
        required = set(shape.required_members)
        conforming = st.fixed_dictionaries(
            {name: members[name] for name in required},
            optional={
                **{name: members[name] for name in members if name not in required},
                "unknownMember": json_values,
            },
        )
        return conforming | json_values if depth else conforming
    if kind == "list":
        upper = min(shape.metadata.get("max", 3), 3)
        return st.lists(from_shape(shape.member, depth + 1), max_size=upper + 1) | json_scalars
    if kind == "map":
        return (
            st.dictionaries(_string(shape.key), from_shape(shape.value, depth + 1), max_size=3) | json_scalars
        )
    if kind == "string":
        return _string(shape) | json_scalars
    if kind in ("integer", "long"):
        return st.integers(min_value=-(2**40), max_value=2**40) | json_scalars
    if kind in ("double", "float"):
        return st.floats(allow_nan=False, allow_infinity=False) | json_scalars
    if kind == "boolean":
        return st.booleans() | json_scalars
    if kind == "timestamp":
        return (
            st.integers(-(2**35), 2**35)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=30)
        )
    return json_values


def _input(operation: str) -> st.SearchStrategy[Any]:
    return from_shape(MODEL.operation_model(operation).input_shape)


def _valid_starts() -> st.SearchStrategy[dict[str, Any]]:
    """A valid Start with some optional members replaced by generated ones: reaches the service."""
    shape = MODEL.operation_model("StartBatchEvaluation").input_shape
    assert shape is not None
    names = st.from_regex(r"^fuzz[a-zA-Z0-9_]{1,30}$", fullmatch=True)
    optional = {
        name: from_shape(member, 1)
        for name, member in shape.members.items()
        if name not in shape.required_members and name != "evaluators"
    }
    extras = st.fixed_dictionaries({}, optional=optional)
    return st.builds(lambda name, extra: {**start_request(name), **extra}, names, extras)


def _state(api: LocalApi, tenant: Tenant) -> tuple[list[str], list[str]]:
    """Everything the tenant owns: its table items and its S3 objects."""
    backend = api.backend
    items = backend.clients.client("dynamodb").query(
        TableName=backend.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"OWNER#{tenant.account_id}"}},
        ConsistentRead=True,
    )["Items"]
    objects = backend.clients.client("s3").list_objects_v2(
        Bucket=backend.bucket_name, Prefix=f"jobs/{tenant.account_id}/"
    )
    keys = [entry["Key"] for entry in objects.get("Contents", [])]
    return sorted(json.dumps(item, sort_keys=True) for item in items), sorted(keys)


def _check(api: LocalApi, tenant: Tenant, send: Any) -> RawResponse:
    """Send one request; assert the contract; return the response."""
    before = _state(api, tenant)
    response: RawResponse = send()  # http.client times out after 10 s: a hang fails the test
    event(f"{response.status} {response.error_type or 'success'}")  # --hypothesis-show-statistics
    assert response.status < 500, (response.status, response.body[:500])
    assert len(response.body) <= MAX_RESPONSE_BYTES
    assert response.headers.get("content-type") == "application/json"
    body = response.json()
    assert isinstance(body, dict)
    if response.status >= 400:
        assert response.error_type, response.headers
        assert isinstance(body.get("message"), str)
        assert _state(api, tenant) == before, "a refused request changed state"
    return response


def _job_id(api: LocalApi, tenant: Tenant, n: int) -> str:
    response = api.raw(
        "POST",
        "/evaluations/batch-evaluate",
        body=json.dumps(start_request(f"fuzz_{n}")).encode(),
        headers={"Content-Type": "application/json"},
        tenant=tenant,
    )
    return str(response.json()["batchEvaluationId"])


@pytest.fixture
def known_id(local_api: LocalApi, tenant: Tenant) -> str:
    """A real job of the tenant, so Get/Stop/Delete also meet ids that exist."""
    return _job_id(local_api, tenant, 0)


@pytest.fixture
def roomy_quotas(local_api: LocalApi) -> Iterator[None]:
    """Quotas no fuzz run reaches, so valid Starts keep reaching the job store (default: 5 active)."""
    with local_api.settings(BATCHEVAL_MAX_ACTIVE_JOBS="1000000", BATCHEVAL_MAX_STORED_JOBS="1000000"):
        yield


@FUZZ
@given(body=_input("StartBatchEvaluation") | _valid_starts(), raw=st.none() | st.binary(max_size=200))
@pytest.mark.usefixtures("roomy_quotas")
def test_fuzz_start(local_api: LocalApi, tenant: Tenant, body: Any, raw: bytes | None) -> None:
    payload = raw if raw is not None else json.dumps(body).encode()
    _check(
        local_api,
        tenant,
        lambda: local_api.raw(
            "POST",
            "/evaluations/batch-evaluate",
            body=payload,
            headers={"Content-Type": "application/json"},
            tenant=tenant,
        ),
    )


_ids = st.text(max_size=120) | _input("GetBatchEvaluation").map(lambda r: r.get("batchEvaluationId"))


def _path_id(value: Any, known: str, use_known: bool) -> str:
    text = known if use_known else str(value)
    return quote(text, safe="") or "x"


@FUZZ
@given(job=_ids, use_known=st.booleans())
def test_fuzz_get(local_api: LocalApi, tenant: Tenant, known_id: str, job: Any, use_known: bool) -> None:
    path = f"/evaluations/batch-evaluate/{_path_id(job, known_id, use_known)}"
    _check(local_api, tenant, lambda: local_api.raw("GET", path, tenant=tenant))


@FUZZ
@given(query=_input("ListBatchEvaluations"))
def test_fuzz_list(local_api: LocalApi, tenant: Tenant, query: Any) -> None:
    pairs = query if isinstance(query, dict) else {"maxResults": query}
    path = "/evaluations/batch-evaluate?" + urlencode({str(k): str(v) for k, v in pairs.items()})
    _check(local_api, tenant, lambda: local_api.raw("GET", path, tenant=tenant))


@FUZZ
@given(job=_ids, use_known=st.booleans())
def test_fuzz_stop(local_api: LocalApi, tenant: Tenant, known_id: str, job: Any, use_known: bool) -> None:
    path = f"/evaluations/batch-evaluate/{_path_id(job, known_id, use_known)}/stop"
    _check(local_api, tenant, lambda: local_api.raw("POST", path, tenant=tenant))


@FUZZ
@given(job=_ids, use_known=st.booleans())
def test_fuzz_delete(local_api: LocalApi, tenant: Tenant, known_id: str, job: Any, use_known: bool) -> None:
    path = f"/evaluations/batch-evaluate/{_path_id(job, known_id, use_known)}"
    _check(local_api, tenant, lambda: local_api.raw("DELETE", path, tenant=tenant))
