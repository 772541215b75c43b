"""A scheduled run's request: window, unique name and retry-stable clientToken."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from batcheval.api.models import StartBatchEvaluationRequest
from batcheval.errors import ValidationError
from batcheval.jobs.schedule import ScheduledRun

TEMPLATE: dict[str, Any] = {
    "dataSourceConfig": {
        "cloudWatchLogs": {"serviceNames": ["agent.DEFAULT"], "logGroupNames": ["/aws/spans"]}
    },
    "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}],
}


def event(**overrides):
    base = {
        "scheduleName": "hourly",
        "ownerAccountId": "111111111111",
        "scheduledTime": "2026-11-26T10:00:00Z",
        "window": {"lookbackMinutes": 60, "settleMinutes": 5},
        "job": TEMPLATE,
    }
    return base | overrides


def test_request_is_a_valid_start_over_the_settled_window():
    # Given an hourly run at 10:00 reading the last hour, settled 5 minutes
    run = ScheduledRun.from_event(event())

    # When building its request
    request = run.request()

    # Then it is a valid Start request over [08:55, 09:55] named after the run
    StartBatchEvaluationRequest.model_validate(request)
    assert request["dataSourceConfig"]["cloudWatchLogs"]["filterConfig"]["timeRange"] == {
        "startTime": "2026-11-26T08:55:00Z",
        "endTime": "2026-11-26T09:55:00Z",
    }
    assert request["batchEvaluationName"] == "hourly_20261126T1000"
    assert "filterConfig" not in TEMPLATE["dataSourceConfig"]["cloudWatchLogs"]  # template untouched


def test_client_token_is_stable_per_run_and_differs_between_runs():
    # Given the same run twice and the next run
    first = ScheduledRun.from_event(event())
    again = ScheduledRun.from_event(event(scheduledTime="2026-11-26T11:00:00+01:00"))
    later = ScheduledRun.from_event(event(scheduledTime="2026-11-26T11:00:00Z"))

    # Then the token follows the instant, not its spelling
    assert first.scheduled_time == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert first.client_token == again.client_token
    assert first.client_token != later.client_token


def test_event_problems_are_named():
    # Given an event with a bad owner and a missing window
    bad = event(ownerAccountId="me")
    del bad["window"]

    # When / Then every problem is named
    with pytest.raises(ValidationError) as raised:
        ScheduledRun.from_event(bad)
    assert {issue.name for issue in raised.value.fields} == {"ownerAccountId", "window"}
