from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batcheval.aws import AwsClients
from batcheval.errors import (
    ConflictError,
    ResourceNotFoundError,
    ServiceQuotaExceededError,
    ThrottlingError,
    ValidationError,
)
from batcheval.jobs.records import Job
from batcheval.jobs.service import JobService
from tests.unit.jobs.conftest import BUCKET, OTHER, OWNER, build_service, start_request

TOKEN = "a" * 40


class RecordingStarter:
    def __init__(self, run_id: str | None = "run-1", fail: bool = False) -> None:
        self.run_id = run_id
        self.fail = fail
        self.started: list[str] = []
        self.stopped: list[str] = []

    def start(self, job: Job) -> str | None:
        if self.fail:
            raise RuntimeError("state machine unavailable")
        self.started.append(job.job_id)
        return self.run_id

    def stop(self, job: Job) -> None:
        self.stopped.append(job.job_id)


class TickingClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def test_start_creates_a_pending_job_with_id_arn_and_encrypted_spec(service: JobService, clients, stack_key):
    # Given a valid Start request
    # When starting it
    result = service.start(OWNER, start_request("nightly_run", TOKEN, description="d", tags={"team": "x"}))

    # Then a PENDING job with a model-conformant id and ARN exists
    job = result.job
    assert result.created
    assert job.status == "PENDING"
    assert re.fullmatch(r"nightly_run-[a-zA-Z0-9]{10}", job.job_id)
    assert job.arn == f"arn:aws:bedrock-agentcore:us-east-1:{OWNER}:batch-evaluate/{job.job_id}"
    # And the full request is in S3, encrypted with the stack key
    head = clients.client("s3").head_object(Bucket=BUCKET, Key=job.spec.key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == stack_key
    assert service.store.counters(OWNER) == {"active": 1, "stored": 1}


def test_same_token_same_request_returns_the_same_job(service: JobService):
    # Given a started job
    first = service.start(OWNER, start_request(token=TOKEN))

    # When the same request is retried with the same token
    again = service.start(OWNER, start_request(token=TOKEN))

    # Then the existing job comes back and nothing new is counted
    assert again.job.job_id == first.job.job_id
    assert not again.created
    assert service.store.counters(OWNER) == {"active": 1, "stored": 1}


def test_same_token_different_request_is_a_conflict(service: JobService):
    service.start(OWNER, start_request(token=TOKEN))
    with pytest.raises(ConflictError, match="different request"):
        service.start(OWNER, start_request(token=TOKEN, description="changed"))


def test_concurrent_retries_create_one_job(service: JobService):
    # Given 8 threads sending the same Start with the same token at once
    results, errors = [], []

    def call() -> None:
        try:
            results.append(service.start(OWNER, start_request(token=TOKEN)).job.job_id)
        except Exception as error:  # pragma: no cover - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then all got the same job, and exactly one is stored
    assert errors == []
    assert len(set(results)) == 1
    assert service.store.counters(OWNER) == {"active": 1, "stored": 1}
    assert len(service.list_jobs(OWNER, max_results=100, next_token=None).jobs) == 1


def test_name_is_unique_per_owner_only(service: JobService):
    service.start(OWNER, start_request("shared"))
    with pytest.raises(ConflictError, match="already exists"):
        service.start(OWNER, start_request("shared"))
    # another account may use the same name
    assert service.start(OTHER, start_request("shared")).created


def test_active_and_stored_quotas(clients: AwsClients, stack_key: str):
    # Given quotas of 2 active and 3 stored jobs
    service = build_service(clients, stack_key, max_active_jobs=2, max_stored_jobs=3)
    first = service.start(OWNER, start_request("a")).job
    service.start(OWNER, start_request("b"))

    # Then a third active job is over quota
    with pytest.raises(ServiceQuotaExceededError, match="active"):
        service.start(OWNER, start_request("c"))

    # When one is stopped, a third fits
    service.stop(OWNER, first.job_id)
    third = service.start(OWNER, start_request("c")).job

    # Then with room for another active job, the stored quota (3) still refuses a fourth
    service.stop(OWNER, third.job_id)
    with pytest.raises(ServiceQuotaExceededError, match="stored"):
        service.start(OWNER, start_request("d"))
    assert service.store.counters(OWNER) == {"active": 1, "stored": 3}


def test_unsupported_features_are_rejected_by_name(service: JobService):
    request = start_request(
        insights=[{"insightId": "Builtin.Insight.FailureAnalysis"}],
        datasetExecutionConfig={"dataset": {"datasetId": "d"}},
        dataSourceConfig={"onlineEvaluationConfigSource": {"onlineEvaluationConfigArn": "arn"}},
    )
    with pytest.raises(ValidationError) as caught:
        service.start(OWNER, request)
    assert [issue.name for issue in caught.value.fields] == [
        "insights",
        "datasetExecutionConfig",
        "dataSourceConfig.onlineEvaluationConfigSource",
    ]
    assert all("not supported by this deployment yet" in issue.message for issue in caught.value.fields)


def test_caller_key_encrypts_the_spec_and_a_bad_key_is_rejected(service: JobService, clients):
    # Given a caller key
    caller_key = clients.client("kms").create_key()["KeyMetadata"]["Arn"]

    # When starting with it, then the spec is encrypted with it and echoed
    job = service.start(OWNER, start_request(kmsKeyArn=caller_key)).job
    head = clients.client("s3").head_object(Bucket=BUCKET, Key=job.spec.key)
    assert head["SSEKMSKeyId"] == caller_key
    assert job.kms_key_arn == caller_key

    # And a key that does not exist is a ValidationException on kmsKeyArn, with nothing stored
    missing = "arn:aws:kms:us-east-1:111111111111:key/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12
    with pytest.raises(ValidationError) as caught:
        service.start(OWNER, start_request("other", kmsKeyArn=missing))
    assert caught.value.fields[0].name == "kmsKeyArn"
    assert service.store.counters(OWNER)["stored"] == 1


def test_other_tenants_get_not_found(service: JobService):
    job = service.start(OWNER, start_request()).job
    for call in (service.get, service.stop, service.delete):
        with pytest.raises(ResourceNotFoundError):
            call(OTHER, job.job_id)


def test_list_pages_newest_first_with_owner_bound_tokens(clients, stack_key):
    # Given five jobs created one second apart
    service = build_service(clients, stack_key, clock=TickingClock(), max_active_jobs=10)
    names = [f"job{i}" for i in range(5)]
    for name in names:
        service.start(OWNER, start_request(name))

    # When paging two at a time
    seen: list[str] = []
    token: str | None = None
    while True:
        page = service.list_jobs(OWNER, max_results=2, next_token=token)
        seen.extend(job.name for job in page.jobs)
        token = page.next_token
        if token is None:
            break
        # Then another tenant cannot use the token, and a tampered one is rejected
        with pytest.raises(ValidationError):
            service.list_jobs(OTHER, max_results=2, next_token=token)
        with pytest.raises(ValidationError):
            service.list_jobs(OWNER, max_results=2, next_token=token[:-4] + "AAAA")

    assert seen == list(reversed(names))


def test_stop_pending_without_run_goes_to_stopped_then_conflicts(service: JobService):
    job = service.start(OWNER, start_request()).job
    assert service.stop(OWNER, job.job_id).status == "STOPPED"
    with pytest.raises(ConflictError):
        service.stop(OWNER, job.job_id)
    assert service.store.counters(OWNER) == {"active": 0, "stored": 1}


def test_stop_a_started_job_asks_the_pipeline(clients, stack_key):
    starter = RecordingStarter()
    service = build_service(clients, stack_key, starter=starter)
    job = service.start(OWNER, start_request()).job
    assert job.run_id == "run-1"

    stopped = service.stop(OWNER, job.job_id)

    assert stopped.status == "STOPPING"
    assert starter.stopped == [job.job_id]
    # Stop again while stopping answers STOPPING and repeats the (idempotent) stop request
    assert service.stop(OWNER, job.job_id).status == "STOPPING"
    assert starter.stopped == [job.job_id, job.job_id]


def test_failed_pipeline_start_marks_the_job_failed(clients, stack_key):
    service = build_service(clients, stack_key, starter=RecordingStarter(fail=True))
    job = service.start(OWNER, start_request()).job
    assert job.status == "FAILED"
    assert job.error_details == ["The evaluation pipeline could not be started."]
    assert service.store.counters(OWNER)["active"] == 0


def test_delete_removes_job_reservations_and_objects(service: JobService, clients):
    # Given a job not finished yet (PENDING)
    job = service.start(OWNER, start_request("gone", TOKEN)).job

    # When deleting it
    deleted = service.delete(OWNER, job.job_id)

    # Then the answer says DELETING, and the job, its S3 objects and quota use are gone
    assert deleted.status == "DELETING"
    with pytest.raises(ResourceNotFoundError):
        service.get(OWNER, job.job_id)
    assert clients.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert service.store.counters(OWNER) == {"active": 0, "stored": 0}
    # And the name and token are free again
    assert service.start(OWNER, start_request("gone", TOKEN)).created


def test_large_data_source_is_echoed_from_s3_without_reading_the_request(service: JobService, clients):
    # Given a job whose dataSourceConfig is too large for the item
    trace_ids = [{"sessionId": f"s{i}", "traceIds": [f"{i:032x}"] * 100} for i in range(50)]
    source = {"cloudWatchLogs": {"serviceNames": ["svc"], "filterConfig": {"sessionTraceIds": trace_ids}}}
    job = service.start(OWNER, start_request(dataSourceConfig=source)).job
    assert job.data_source_in_s3

    # When the stored request (which also holds the ground truth, up to megabytes) is not there
    clients.client("s3").delete_object(Bucket=BUCKET, Key=job.spec.key)

    # Then Get still echoes the data source: it reads only the data source's own object
    assert service.get(OWNER, job.job_id).data_source_config == source


def test_concurrent_starts_never_overshoot_the_active_quota(clients, stack_key):
    # Given an active quota of 3 and 10 different Starts racing
    service = build_service(clients, stack_key, max_active_jobs=3)
    outcomes: list[str] = []

    def call(i: int) -> None:
        try:
            service.start(OWNER, start_request(f"race{i}"))
            outcomes.append("created")
        except ServiceQuotaExceededError:
            outcomes.append("quota")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly 3 were created and the counters agree with the stored jobs
    assert outcomes.count("created") == 3
    assert outcomes.count("quota") == 7
    assert service.store.counters(OWNER) == {"active": 3, "stored": 3}
    assert len(service.list_jobs(OWNER, max_results=100, next_token=None).jobs) == 3


def test_list_reaches_every_job_when_a_query_page_hits_dynamodb_1mb_limit(clients, stack_key):
    # Given 45 jobs whose items are ~30 KB each (a 450-id session filter is still stored inline),
    # so 45 of them exceed the 1 MB DynamoDB returns per Query
    service = build_service(clients, stack_key, max_active_jobs=100)
    session_ids = [f"session-{i:04d}-{'x' * 48}" for i in range(450)]
    source = {"cloudWatchLogs": {"serviceNames": ["svc"], "filterConfig": {"sessionIds": session_ids}}}
    for i in range(45):
        service.start(OWNER, start_request(f"big{i}", dataSourceConfig=source))

    # When listing with the largest page size until there is no token
    seen: list[str] = []
    token: str | None = None
    while True:
        page = service.list_jobs(OWNER, max_results=100, next_token=token)
        seen.extend(job.name for job in page.jobs)
        token = page.next_token
        if token is None:
            break

    # Then every job is listed exactly once
    assert sorted(seen) == sorted(f"big{i}" for i in range(45))


def test_a_stop_that_wins_the_race_with_the_pipeline_start_stops_the_new_run(clients, stack_key):
    # Given a pipeline whose start is slow: a Stop arrives while the run is being started
    class StoppedWhileStarting(RecordingStarter):
        service: JobService

        def start(self, job: Job) -> str | None:
            assert self.service.stop(job.owner, job.job_id).status == "STOPPED"  # no run yet
            return super().start(job)

    starter = StoppedWhileStarting()
    service = build_service(clients, stack_key, starter=starter)
    starter.service = service

    # When the Start completes
    result = service.start(OWNER, start_request())

    # Then Start still succeeds, the job stays STOPPED without a run attached,
    # and the run that was started anyway is asked to stop
    job = service.store.require(OWNER, result.job.job_id)
    assert (result.job.status, job.status, job.run_id) == ("STOPPED", "STOPPED", None)
    assert starter.stopped == [job.job_id]
    assert service.store.counters(OWNER) == {"active": 0, "stored": 1}


def transaction_cancelled(codes: list[str]) -> ClientError:
    """DynamoDB's TransactionCanceledException with one cancellation reason code per item."""
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": [{"Code": code} for code in codes],
    }
    return ClientError(response, "TransactWriteItems")


def _cancel_once_with_transaction_conflict(
    db: Any, monkeypatch: pytest.MonkeyPatch, *, call: int = 1
) -> list[int]:
    """Make the store's `call`-th next TransactWriteItems fail as DynamoDB does when another transaction
    touches one of its items at the same time (here: the owner's shared COUNTERS item)."""
    real = db.transact_write_items
    calls: list[int] = []

    def flaky(**kwargs: object) -> object:
        calls.append(1)
        if len(calls) == call:
            items = kwargs["TransactItems"]
            assert isinstance(items, list)
            raise transaction_cancelled(["None"] * (len(items) - 1) + ["TransactionConflict"])
        return real(**kwargs)

    monkeypatch.setattr(db, "transact_write_items", flaky)
    return calls


def test_stop_and_delete_retry_a_transaction_cancelled_by_a_concurrent_one(
    service: JobService, clients: AwsClients, monkeypatch: pytest.MonkeyPatch
):
    # Given a job, and a concurrent transaction on the owner's counters that cancels the Stop's once
    job = service.start(OWNER, start_request()).job
    db = clients.client("dynamodb")  # the cached client the service's store uses
    calls = _cancel_once_with_transaction_conflict(db, monkeypatch)

    # When stopping it
    stopped = service.stop(OWNER, job.job_id)

    # Then the Stop is retried and succeeds rather than answering a ConflictException
    assert stopped.status == "STOPPED"
    assert len(calls) == 2
    assert service.store.counters(OWNER) == {"active": 0, "stored": 1}

    # And the same holds for the Delete's final removal (its 2nd transaction, after DELETING)
    calls = _cancel_once_with_transaction_conflict(db, monkeypatch, call=2)
    service.delete(OWNER, job.job_id)
    assert service.store.get(OWNER, job.job_id) is None
    assert len(calls) == 3
    assert service.store.counters(OWNER) == {"active": 0, "stored": 0}


def test_a_stop_that_keeps_being_cancelled_leaves_a_run_less_job_pending(
    service: JobService, clients: AwsClients, monkeypatch: pytest.MonkeyPatch
):
    # Given a job with no run, and its STOPPED transaction cancelled by concurrent ones on every try
    job = service.start(OWNER, start_request()).job
    db = clients.client("dynamodb")
    real = db.transact_write_items
    calls: list[int] = []
    cancelled = transaction_cancelled(["TransactionConflict", "None"])

    def cancelled_while_stopping(**kwargs: Any) -> object:
        calls.append(1)
        if len(calls) <= 4:  # every attempt of the one transition
            raise cancelled
        return real(**kwargs)

    monkeypatch.setattr(db, "transact_write_items", cancelled_while_stopping)

    # When stopping it, Then the caller is told to retry (429, which boto3 retries by itself)
    with pytest.raises(ThrottlingError):
        service.stop(OWNER, job.job_id)

    # And the job was not moved to STOPPING, where no pipeline would ever finish the stop
    assert len(calls) == 4
    assert service.store.require(OWNER, job.job_id).status == "PENDING"


def test_a_start_that_stays_contended_is_throttled_and_leaves_nothing(
    service: JobService, clients: AwsClients, monkeypatch: pytest.MonkeyPatch
):
    # Given every transaction cancelled by concurrent ones (no condition failing)
    def always_contended(**_: object) -> None:
        raise transaction_cancelled(["None", "None", "TransactionConflict"])

    monkeypatch.setattr(clients.client("dynamodb"), "transact_write_items", always_contended)

    # When starting, Then the caller gets a retryable ThrottlingException, not a 500
    with pytest.raises(ThrottlingError):
        service.start(OWNER, start_request())

    # And the request object written to S3 before the transaction is gone again
    assert clients.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_recording_a_run_that_already_began_itself_is_not_a_lost_race(service: JobService):
    # Given a job whose run started so fast that its first step already claimed the job
    job = service.start(OWNER, start_request("fast_run")).job
    now = datetime.now(UTC)
    assert service.store.begin_run(OWNER, job.job_id, "run-1", now=now)
    # When the starter then records that same run, Then it is accepted (the run must go on)
    assert service.store.record_run(OWNER, job.job_id, "run-1", now=now).run_id == "run-1"
    # But another run is still refused
    with pytest.raises(ConflictError):
        service.store.record_run(OWNER, job.job_id, "run-2", now=now)
