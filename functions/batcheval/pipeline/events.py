"""Reading the pipeline's input events: a job reference, a console StartBatchEvaluation request, or
an EventBridge execution status-change event. Adapter code: the steps get plain values."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from batcheval.api.models import StartBatchEvaluationRequest
from batcheval.api.requests import parse
from batcheval.jobs.identifiers import derived_job_id
from batcheval.jobs.starter import BoundStarter
from batcheval.pipeline.runtime import PipelineRuntime

STATUS_CHANGE = "Step Functions Execution Status Change"


@dataclass(frozen=True)
class JobRef:
    owner: str
    job_id: str


def account_of(execution_arn: str) -> str:
    """arn:aws:states:<region>:<account>:execution:<machine>:<name> → <account>."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[5] != "execution":
        raise ValueError("executionArn is not a Step Functions execution ARN")
    return parts[4]


def is_console_request(event: Mapping[str, Any]) -> bool:
    return "batchEvaluationId" not in event and "batchEvaluationName" in event


def console_job_ref(event: Mapping[str, Any], execution_arn: str) -> JobRef:
    """The job a console execution creates: in the service's account, its id derived from the run."""
    return JobRef(account_of(execution_arn), derived_job_id(str(event["batchEvaluationName"]), execution_arn))


def start_console_job(runtime: PipelineRuntime, event: Mapping[str, Any], execution_arn: str) -> JobRef:
    """Create (or find again, on a retried step) the job of a console execution, bound to this run."""
    ref = console_job_ref(event, execution_arn)
    body = {key: value for key, value in event.items() if key != "executionArn"}
    body.setdefault("clientToken", "console-" + hashlib.sha256(execution_arn.encode()).hexdigest()[:32])
    request = parse(StartBatchEvaluationRequest, body).to_wire()
    service = runtime.job_service(BoundStarter(execution_arn), new_id=lambda _name: ref.job_id)
    service.start(ref.owner, request)
    return ref


def job_ref(event: Mapping[str, Any]) -> JobRef:
    return JobRef(str(event["owner"]), str(event["batchEvaluationId"]))


def status_change(event: Mapping[str, Any]) -> tuple[JobRef, dict[str, Any]] | None:
    """(job, error) of an EventBridge execution status-change event; None for any other event."""
    if event.get("detail-type") != STATUS_CHANGE:
        return None
    detail = event.get("detail") or {}
    raw_input = detail.get("input") or "{}"
    execution_input = msgspec.json.decode(raw_input) if isinstance(raw_input, str) else dict(raw_input)
    execution_arn = str(detail.get("executionArn") or "")
    ref = (
        console_job_ref(execution_input, execution_arn)
        if is_console_request(execution_input)
        else job_ref(execution_input)
    )
    return ref, {"Error": detail.get("status"), "Cause": detail.get("cause") or detail.get("error")}
