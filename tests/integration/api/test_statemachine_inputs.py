"""The state machine's console "Start execution" inputs (events/statemachine) are valid.

The full-request shape creates a job through JobService in the service's account (what the
discover step does with it); the job-reference shape is what the API's starter passes.
"""

from __future__ import annotations

import json
from pathlib import Path

from batcheval.api import dependencies
from batcheval.api.models import BATCH_EVALUATION_ID_PATTERN, StartBatchEvaluationRequest
from tests.integration.api.conftest import OWNER, Stack

EVENTS = Path(__file__).resolve().parents[3] / "events" / "statemachine"


def test_full_request_input_starts_a_job_through_job_service(stack: Stack):
    # Given the console input of the full-request shape
    request = json.loads((EVENTS / "start_execution.json").read_text())

    # When JobService starts it for the service's account
    result = dependencies.get_service().start(
        OWNER, StartBatchEvaluationRequest.model_validate(request).to_wire()
    )

    # Then the job exists, PENDING, named as in the input
    assert result.created
    assert result.job.name == request["batchEvaluationName"]
    assert result.job.status == "PENDING"


def test_job_reference_input_has_the_contract_shape():
    import re

    reference = json.loads((EVENTS / "start_execution_job.json").read_text())
    assert set(reference) == {"owner", "batchEvaluationId"}
    assert re.fullmatch(r"[0-9]{12}", reference["owner"])
    assert re.fullmatch(BATCH_EVALUATION_ID_PATTERN, reference["batchEvaluationId"])
