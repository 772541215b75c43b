"""No silent data loss: Start leaves no object behind when it fails; Get's S3 errors are errors;
clientTokens expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batcheval.api import dependencies
from batcheval.api.settings import ApiSettings
from batcheval.jobs.service import DATA_SOURCE_KEY_UNUSABLE, JobService
from batcheval.jobs.store import TOKEN_TTL, TTL_ATTRIBUTE
from tests.integration.api.conftest import BUCKET, OWNER, TABLE, Api, Stack, start_body

TOKEN = "token-0123456789-0123456789-0123456789"


def _bulky_source() -> dict[str, Any]:
    """A dataSourceConfig over the 32 KB inline limit: Start stores it as a second object."""
    ids = [{"sessionId": f"s{n}", "traceIds": ["0" * 32] * 100} for n in range(20)]
    return {"cloudWatchLogs": {"serviceNames": ["agent.DEFAULT"], "filterConfig": {"sessionTraceIds": ids}}}


def _objects(stack: Stack) -> list[str]:
    listing = stack.clients.client("s3").list_objects_v2(Bucket=BUCKET)
    return [entry["Key"] for entry in listing.get("Contents", [])]


def _fail(stack: Stack, service: str, operation: str, code: str, *, on_call: int = 1) -> None:
    """Make the `on_call`-th `operation` of the handlers' client fail with `code`."""
    calls = {"n": 0}

    def hook(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == on_call:
            raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)

    stack.clients.client(service).meta.events.register(f"before-call.{service}.{operation}", hook)


@pytest.mark.parametrize(
    ("service", "operation", "code", "on_call"),
    [
        pytest.param("s3", "PutObject", "InternalError", 1, id="first-object-write"),
        pytest.param("s3", "PutObject", "InternalError", 2, id="second-object-write"),
        pytest.param("dynamodb", "TransactWriteItems", "InternalServerError", 1, id="job-record-write"),
        pytest.param("dynamodb", "TransactWriteItems", "ThrottlingException", 1, id="job-record-throttled"),
    ],
)
def test_a_failed_start_leaves_no_object_behind(
    api: Api, stack: Stack, service: str, operation: str, code: str, on_call: int
):
    # Given a Start that writes two objects, and a failure at one point of it
    _fail(stack, service, operation, code, on_call=on_call)
    # When it is sent
    response = api.start(start_body(dataSourceConfig=_bulky_source()))
    # Then it fails, and nothing of it is left in the bucket or the table
    assert response.status >= 400
    assert _objects(stack) == []
    assert api.list().body["batchEvaluations"] == []


def test_a_start_refused_by_a_quota_or_a_taken_name_leaves_no_object_behind(
    api: Api, stack: Stack, monkeypatch: pytest.MonkeyPatch
):
    # Given one job
    first = api.start(start_body(name="taken", dataSourceConfig=_bulky_source()))
    kept = sorted(_objects(stack))
    # When a second Start takes its name, Then it is refused and leaves nothing
    assert api.start(start_body(name="taken", dataSourceConfig=_bulky_source())).status == 409
    # And when the stored-job quota is full, the same
    monkeypatch.setenv("BATCHEVAL_MAX_STORED_JOBS", "1")
    dependencies.reset()
    assert api.start(start_body(name="other", dataSourceConfig=_bulky_source())).status == 402
    assert sorted(_objects(stack)) == kept
    assert all(first.body["batchEvaluationId"] in key for key in kept)


def _stored_job(api: Api) -> str:
    response = api.start(start_body(dataSourceConfig=_bulky_source()))
    assert response.status == 202
    return str(response.body["batchEvaluationId"])


def test_get_with_an_unusable_key_answers_without_the_data_source_and_says_why(api: Api, stack: Stack):
    # Given a job whose data source is in S3, and its KMS key disabled
    job_id = _stored_job(api)
    _fail(stack, "s3", "GetObject", "KMS.DisabledException")
    # When it is read
    response = api.get(job_id)
    # Then Get answers the job's metadata and names why dataSourceConfig is missing
    assert response.status == 200
    assert "dataSourceConfig" not in response.body
    assert response.body["dataSourceConfigUnavailable"] == DATA_SOURCE_KEY_UNUSABLE


def test_get_answers_the_data_source_normally_without_the_note(api: Api):
    job_id = _stored_job(api)
    response = api.get(job_id)
    assert response.body["dataSourceConfig"] == _bulky_source()
    assert "dataSourceConfigUnavailable" not in response.body


@pytest.mark.parametrize(
    ("code", "status", "error_type"),
    [
        ("SlowDown", 429, "ThrottlingException"),
        ("NoSuchKey", 500, "InternalServerException"),
        ("AccessDenied", 500, "InternalServerException"),
        ("InternalError", 500, "InternalServerException"),
    ],
)
def test_any_other_s3_error_on_get_is_an_error_not_a_quiet_gap(
    api: Api, stack: Stack, code: str, status: int, error_type: str
):
    # Given a stored job and S3 failing for a reason other than its key
    job_id = _stored_job(api)
    _fail(stack, "s3", "GetObject", code)
    # When it is read, Then the caller gets an error, never a Get without dataSourceConfig
    response = api.get(job_id)
    assert response.status == status
    assert response.error_type == error_type


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clocked(stack: Stack) -> tuple[JobService, Clock]:
    clock = Clock()
    base = dependencies.build_service(ApiSettings.from_env(), clients=stack.clients)
    service = JobService(
        store=base.store,
        payloads=base._payloads,
        page_tokens=base._tokens,
        starter=base._starter,
        region="us-east-1",
        partition="aws",
        default_kms_key_arn=stack.key_arn,
        max_active_jobs=100,
        max_stored_jobs=100,
        clock=clock,
    )
    return service, clock


def _token_items(stack: Stack) -> list[dict[str, Any]]:
    items = stack.clients.client("dynamodb").scan(TableName=TABLE)["Items"]
    return [item for item in items if item["sk"]["S"].startswith("TOKEN#")]


def test_a_token_is_honoured_within_its_window_and_starts_a_new_job_after_it(
    stack: Stack, clocked: tuple[JobService, Clock]
):
    service, clock = clocked
    request = {**start_body(name="first", token=TOKEN)}
    # Given a job started with a token
    first = service.start(OWNER, request)
    # When the same Start comes again just inside the window, Then it is a replay of that job
    clock.now += TOKEN_TTL - timedelta(seconds=1)
    replay = service.start(OWNER, request)
    assert (replay.created, replay.job.job_id) == (False, first.job.job_id)
    # When the token is reused after the window (TTL has not removed the record yet, as in moto)
    clock.now += timedelta(seconds=2)
    second = service.start(OWNER, {**start_body(name="second", token=TOKEN)})
    # Then it starts a new job, and the token's record now names the new job only
    assert second.created
    assert second.job.job_id != first.job.job_id
    [token] = _token_items(stack)
    assert token["jobId"]["S"] == second.job.job_id
    assert int(token[TTL_ATTRIBUTE]["N"]) == int((clock.now + TOKEN_TTL).timestamp())


def test_an_expired_token_with_a_different_request_is_no_conflict(
    stack: Stack, clocked: tuple[JobService, Clock]
):
    service, clock = clocked
    service.start(OWNER, start_body(name="first", token=TOKEN))
    clock.now += TOKEN_TTL
    # When the token comes back with another request after the window, Then that is a new job, not 409
    assert service.start(OWNER, start_body(name="other", token=TOKEN)).created


def test_the_job_table_deletes_expired_tokens_by_ttl(stack: Stack):
    ttl = stack.clients.client("dynamodb").describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL_ATTRIBUTE}


def test_a_failing_clean_up_does_not_hide_why_start_failed(api: Api, stack: Stack):
    # Given a Start whose job record write fails, and whose clean-up fails too
    _fail(stack, "dynamodb", "TransactWriteItems", "ThrottlingException")
    _fail(stack, "s3", "ListObjectsV2", "InternalError")
    # When it is sent, Then the caller hears about the first failure (throttled → 429), not the clean-up's
    response = api.start(start_body())
    assert response.status == 429
    assert response.error_type == "ThrottlingException"
