"""The scheduled-start handler on moto: one job per run, skipped while the previous one is active."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batcheval.api import dependencies
from batcheval.api.handlers import scheduled_start
from batcheval.api.settings import ApiSettings
from batcheval.errors import ValidationError
from tests.integration.api.conftest import TABLE, FakeLambdaContext, Stack

EVENT = json.loads((Path(__file__).resolve().parents[3] / "events" / "scheduled_start.json").read_text())
OWNER = EVENT["ownerAccountId"]


@pytest.fixture
def handler(stack: Stack) -> Iterator[Any]:
    scheduled_start.ledger.cache_clear()
    yield scheduled_start.lambda_handler
    scheduled_start.ledger.cache_clear()


def run_at(time: str) -> dict[str, Any]:
    event = copy.deepcopy(EVENT)
    event["scheduledTime"] = time
    return event


def schedule_item(stack: Stack) -> dict[str, Any]:
    key = {"pk": {"S": f"OWNER#{OWNER}"}, "sk": {"S": "SCHEDULE#nightly"}}
    return stack.clients.client("dynamodb").get_item(TableName=TABLE, Key=key)["Item"]


def test_sample_event_starts_a_job_over_the_settled_window(stack: Stack, handler):
    # Given the console sample event
    # When the handler runs it
    outcome = handler(copy.deepcopy(EVENT), FakeLambdaContext())

    # Then a job named after the schedule and run exists for the owner, over [t-24h-10m, t-10m]
    assert outcome["status"] == "STARTED"
    job = dependencies.get_service().get(OWNER, outcome["batchEvaluationId"]).job
    assert job.name == "nightly_20261126T0200"
    assert job.data_source_config is not None
    time_range = job.data_source_config["cloudWatchLogs"]["filterConfig"]["timeRange"]
    assert time_range == {"startTime": "2026-11-25T01:50:00Z", "endTime": "2026-11-26T01:50:00Z"}


def test_retried_delivery_of_a_run_is_the_same_job(stack: Stack, handler):
    # Given a run already started
    first = handler(run_at("2026-11-26T02:00:00Z"), FakeLambdaContext())

    # When Scheduler delivers the same run again
    again = handler(run_at("2026-11-26T02:00:00Z"), FakeLambdaContext())

    # Then it answers the same job instead of starting (or skipping) another
    assert again == first


def test_next_run_skips_while_the_previous_job_is_active_and_records_why(stack: Stack, handler):
    # Given yesterday's job still PENDING (no pipeline in this test stack)
    first = handler(run_at("2026-11-25T02:00:00Z"), FakeLambdaContext())

    # When today's run fires
    second = handler(run_at("2026-11-26T02:00:00Z"), FakeLambdaContext())

    # Then it is skipped, and the schedule's record says why
    assert second["status"] == "SKIPPED"
    assert first["batchEvaluationId"] in second["reason"]
    item = schedule_item(stack)
    assert item["lastSkipReason"]["S"] == second["reason"]
    assert item["skippedRuns"]["N"] == "1"
    assert item["lastJobId"]["S"] == first["batchEvaluationId"]


def test_next_run_starts_once_the_previous_job_finished(stack: Stack, handler):
    # Given yesterday's job, stopped
    first = handler(run_at("2026-11-25T02:00:00Z"), FakeLambdaContext())
    dependencies.get_service().stop(OWNER, first["batchEvaluationId"])

    # When today's run fires
    second = handler(run_at("2026-11-26T02:00:00Z"), FakeLambdaContext())

    # Then a new job starts and becomes the schedule's last job
    assert second["status"] == "STARTED"
    assert second["batchEvaluationId"] != first["batchEvaluationId"]
    assert schedule_item(stack)["lastJobId"]["S"] == second["batchEvaluationId"]


def test_quota_reached_skips_with_the_reason(stack: Stack, handler, monkeypatch: pytest.MonkeyPatch):
    # Given an owner whose active-job quota is already used by another job
    monkeypatch.setenv("BATCHEVAL_MAX_ACTIVE_JOBS", "1")
    dependencies.use(dependencies.build_service(ApiSettings.from_env(), clients=stack.clients))
    other = copy.deepcopy(EVENT)
    other["scheduleName"] = "hourly"
    handler(other, FakeLambdaContext())

    # When this schedule's run fires
    outcome = handler(copy.deepcopy(EVENT), FakeLambdaContext())

    # Then it is skipped with the quota named, not retried into a pile-up
    assert outcome["status"] == "SKIPPED"
    assert "quota" in outcome["reason"]


def test_malformed_event_is_a_validation_error_naming_the_field(stack: Stack, handler):
    # Given an event whose scheduled time has no zone
    event = run_at("2026-11-26T02:00:00")

    # When / Then the handler refuses it, naming the field
    with pytest.raises(ValidationError) as raised:
        handler(event, FakeLambdaContext())
    assert [issue.name for issue in raised.value.fields] == ["scheduledTime"]


def test_a_cold_start_reads_the_settings_once_for_the_service_and_the_schedule_ledger(
    stack: Stack, handler, monkeypatch: pytest.MonkeyPatch
):
    # Given a cold process (nothing built yet) that counts how often it reads its settings
    dependencies.reset()
    read = ApiSettings.from_env
    reads: list[int] = []

    def counted(cls: type[ApiSettings], environ: Any = None) -> ApiSettings:
        reads.append(1)
        return read(environ)

    monkeypatch.setattr(ApiSettings, "from_env", classmethod(counted))

    # When a scheduled run starts a job
    outcome = handler(run_at("2026-11-26T02:00:00Z"), FakeLambdaContext())

    # Then the schedule ledger and the job service share one read of the settings (and their clients)
    assert outcome["status"] == "STARTED"
    assert reads == [1]
    _, clients = dependencies.settings_and_clients()
    assert scheduled_start.ledger()._client is clients.client("dynamodb")
