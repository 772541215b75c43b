"""The console sample events in events/ stay valid for their handlers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.api.conftest import Stack, invoke

EVENTS = Path(__file__).resolve().parents[3] / "events"


@pytest.mark.parametrize(
    ("operation", "file", "expected"),
    [
        ("start", "start_batch_evaluation.json", 202),
        ("list", "list_batch_evaluations.json", 200),
        ("get", "get_batch_evaluation.json", 404),
        ("stop", "stop_batch_evaluation.json", 404),
        ("delete", "delete_batch_evaluation.json", 404),
        ("retry_failed", "retry_failed_batch_evaluation.json", 404),
    ],
)
def test_sample_event_is_served(stack: Stack, operation: str, file: str, expected: int):
    # Given the sample event (its job id does not exist in a fresh stack)
    event = json.loads((EVENTS / file).read_text())

    # When invoking its handler / Then it is routed and answered as the operation
    response = invoke(operation, event)
    assert response.status == expected, response.body
    if expected == 404:  # the operation's own answer about the job, not "No operation matches"
        job_id = event["pathParameters"]["batchEvaluationId"]
        assert response.body["message"] == f"Batch evaluation {job_id} not found."
