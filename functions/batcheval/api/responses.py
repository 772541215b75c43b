"""Job records → wire response models (exactly the members each operation's output has)."""

from __future__ import annotations

from typing import Any

from batcheval.api.models import (
    BatchEvaluationSummary,
    DeleteBatchEvaluationResponse,
    GetBatchEvaluationResponse,
    ListBatchEvaluationsResponse,
    StartBatchEvaluationResponse,
    StopBatchEvaluationResponse,
)
from batcheval.jobs.records import Job, JobPage
from batcheval.jobs.service import JobView

# botocore: errorDetails holds at most one message of at most 1000 characters.
MAX_ERROR_DETAIL = 1000


def _error_details(job: Job) -> list[str] | None:
    if not job.error_details:
        return None
    return [job.error_details[0][:MAX_ERROR_DETAIL]]


def _identity(job: Job) -> dict[str, Any]:
    return {
        "batchEvaluationId": job.job_id,
        "batchEvaluationArn": job.arn,
        "batchEvaluationName": job.name,
        "status": job.status,
        "createdAt": job.created_at,
    }


def start_response(job: Job) -> StartBatchEvaluationResponse:
    return StartBatchEvaluationResponse.model_validate(
        {
            **_identity(job),
            "evaluators": job.evaluators,
            "outputConfig": job.output_config,
            "tags": job.tags,
            "kmsKeyArn": job.kms_key_arn,
            "description": job.description,
        }
    )


def get_response(view: JobView) -> GetBatchEvaluationResponse:
    job = view.job
    return GetBatchEvaluationResponse.model_validate(
        {
            **_identity(job),
            "evaluators": job.evaluators,
            "dataSourceConfig": view.data_source_config,
            "outputConfig": job.output_config,
            "evaluationResults": job.wire_results(),
            "errorDetails": _error_details(job),
            "description": job.description,
            "updatedAt": job.updated_at,
            "kmsKeyArn": job.kms_key_arn,
            **_results_export(job),
        }
    )


def _results_export(job: Job) -> dict[str, Any]:
    """The additive `resultsExport` extension member, once per-session results exist."""
    if job.results_export is None:
        return {}
    return {"resultsExport": {"s3Uri": job.results_export, "format": "JSONL"}}


def summary(job: Job) -> BatchEvaluationSummary:
    return BatchEvaluationSummary.model_validate(
        {
            **_identity(job),
            "description": job.description,
            "evaluators": job.evaluators,
            "evaluationResults": job.wire_results(),
            "errorDetails": _error_details(job),
            "kmsKeyArn": job.kms_key_arn,
            "updatedAt": job.updated_at,
        }
    )


def list_response(page: JobPage) -> ListBatchEvaluationsResponse:
    return ListBatchEvaluationsResponse(
        batchEvaluations=[summary(job) for job in page.jobs], nextToken=page.next_token
    )


def stop_response(job: Job) -> StopBatchEvaluationResponse:
    return StopBatchEvaluationResponse.model_validate(
        {
            "batchEvaluationId": job.job_id,
            "batchEvaluationArn": job.arn,
            "status": job.status,
            "description": job.description,
        }
    )


def delete_response(job: Job) -> DeleteBatchEvaluationResponse:
    return DeleteBatchEvaluationResponse.model_validate(
        {"batchEvaluationId": job.job_id, "batchEvaluationArn": job.arn, "status": job.status}
    )
