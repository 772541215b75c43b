"""Discover step: claim the job for this run (PENDING → IN_PROGRESS), discover sessions, write the manifest.

in:  {"owner", "batchEvaluationId", "executionArn"} or a full StartBatchEvaluation request (console
     "Start execution") plus "executionArn".
out: {"owner", "batchEvaluationId", "proceed", "manifest": {"Bucket", "Key"} | null, "totalSessions"}.
"""

from __future__ import annotations

from typing import Any

from batcheval.observability import lambda_entry, pipeline_logger
from batcheval.pipeline.events import is_console_request, job_ref, start_console_job
from batcheval.pipeline.runtime import get_runtime


@lambda_entry(pipeline_logger, correlation_id_path="batchEvaluationId || executionArn")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    runtime = get_runtime()
    execution_arn = str(event.get("executionArn") or "")
    ref = start_console_job(runtime, event, execution_arn) if is_console_request(event) else job_ref(event)
    begun = runtime.lifecycle.begin(ref.owner, ref.job_id, execution_arn)
    return begun.to_json(ref.owner, ref.job_id)
