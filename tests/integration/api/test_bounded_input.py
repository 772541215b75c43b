"""Hostile or odd Start input: bounded error reports and epoch-second timestamps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batcheval.api.errors import MAX_REPORTED_ISSUES
from tests.integration.api.conftest import Api, api_event, invoke, start_body

MAX_RESPONSE_BYTES = 64 * 1024


def _time_range(start: Any, end: Any) -> dict[str, Any]:
    return {
        "cloudWatchLogs": {
            "serviceNames": ["agent.DEFAULT"],
            "filterConfig": {"timeRange": {"startTime": start, "endTime": end}},
        }
    }


def _echoed_range(api: Api, job_id: str) -> dict[str, str]:
    got = api.get(job_id)
    return got.body["dataSourceConfig"]["cloudWatchLogs"]["filterConfig"]["timeRange"]


def test_numbers_are_epoch_seconds_even_above_2e10_ms_threshold(api: Api):
    # Given a time range sent as epoch seconds (as botocore sends datetimes), one of them a float
    response = api.start(start_body(dataSourceConfig=_time_range(1_700_000_000, 4_000_000_000.5)))
    # Then both are read as seconds (4e9 s is 2096; read as ms it would be 1970-02-16)
    assert response.status == 202
    assert _echoed_range(api, response.body["batchEvaluationId"]) == {
        "startTime": "2023-11-14T22:13:20Z",
        "endTime": "2096-10-02T07:06:40.500000Z",
    }


@pytest.mark.parametrize(
    "start",
    [-1, 2e10 + 1, 4_102_444_800, 10**30, "2100-01-01T00:00:00Z", "1969-12-31T23:59:59Z"],
)
def test_out_of_range_instants_name_the_allowed_range(api: Api, start: Any):
    # When startTime is negative, far in the future or otherwise outside [1970, 2100)
    response = api.start(start_body(dataSourceConfig=_time_range(start, None)))
    # Then it is a ValidationException on that field, saying what range is allowed
    assert response.status == 400
    assert response.error_type == "ValidationException"
    [issue] = response.body["fieldList"]
    assert issue["name"] == "dataSourceConfig.cloudWatchLogs.filterConfig.timeRange.startTime"
    assert "1970-01-01T00:00:00Z" in issue["message"]
    assert "2100-01-01T00:00:00Z" in issue["message"]


def _huge_bad_starts() -> dict[str, dict[str, Any]]:
    sessions = [{"sessionId": "s", "metadata": {str(n): n for n in range(50_000)}}] * 500
    turns = [{"input": {"prompt": 5}}] * 300_000
    return {
        "bad-tags": start_body(tags={f"!{n}": n for n in range(300_000)}),
        "bad-turns": start_body(
            evaluationMetadata={
                "sessionMetadata": [{"sessionId": "s", "groundTruth": {"inline": {"turns": turns}}}]
            }
        ),
        "bad-metadata-in-every-session": start_body(evaluationMetadata={"sessionMetadata": sessions[:20]}),
        "everything-wrong": {
            "batchEvaluationName": 7,
            "evaluators": [{"evaluatorId": n} for n in range(10)],
            "dataSourceConfig": {
                "cloudWatchLogs": {
                    "serviceNames": [1],
                    "logGroupNames": ["?"] * 10,
                    "filterConfig": {"sessionTraceIds": [{"sessionId": "s", "traceIds": ["x"] * 100}] * 500},
                }
            },
            "tags": {"k" * 5000: 1},
            "description": 5,
            **{f"unknown{n}": n for n in range(1_000)},
        },
    }


@pytest.mark.parametrize("case", list(_huge_bad_starts()))
def test_an_error_report_is_bounded_whatever_the_input(api: Api, case: str):
    # Given a Start whose fields are wrong by the hundred thousand
    body = _huge_bad_starts()[case]
    # When it is sent
    raw = invoke("start", api_event("start", raw_body=json.dumps(body)))
    # Then the answer is a small ValidationException: the first problems listed, the rest counted
    assert raw.status == 400
    assert raw.error_type == "ValidationException"
    assert len(json.dumps(raw.body)) <= MAX_RESPONSE_BYTES
    assert 1 <= len(raw.body["fieldList"]) <= MAX_REPORTED_ISSUES
    assert all(len(issue["name"]) <= 300 for issue in raw.body["fieldList"])


def test_the_message_counts_the_problems_not_listed(api: Api):
    # Given 1,000 unknown members (each its own problem)
    body = start_body()
    body.update({f"unknown{n}": n for n in range(1_000)})
    # When sent
    response = api.start(body)
    # Then 20 are listed and the message says how many more there are
    assert len(response.body["fieldList"]) == MAX_REPORTED_ISSUES
    assert response.body["message"].endswith(f"(and {1_000 - MAX_REPORTED_ISSUES} more not listed)")
    assert response.body["message"].startswith("1000 validation error(s) in: unknown0, unknown1,")


@pytest.mark.parametrize(
    ("where", "expected_path"),
    [
        (lambda body, junk: body.update(junk), "x0"),
        (
            lambda body, junk: body["dataSourceConfig"]["cloudWatchLogs"].update(junk),
            "dataSourceConfig.cloudWatchLogs.x0",
        ),
        (lambda body, junk: body["evaluators"][0].update(junk), "evaluators[0].x0"),
    ],
    ids=["top-level", "nested-object", "list-item"],
)
def test_a_flood_of_unknown_members_is_named_and_counted(api: Api, where: Any, expected_path: str):
    # Given one object of the request with 200,000 unknown members
    body = start_body()
    where(body, {f"x{n}": n for n in range(200_000)})
    # When it is sent
    response = api.start(body)
    # Then the first are named at their path, and the message counts all of them
    assert response.status == 400
    assert response.body["fieldList"][0] == {
        "name": expected_path,
        "message": "Extra inputs are not permitted",
    }
    assert len(response.body["fieldList"]) == MAX_REPORTED_ISSUES
    assert response.body["message"].startswith("200000 validation error(s) in: ")
