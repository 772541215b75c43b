"""Finalize step: make sure the job ends terminal, also when the execution itself failed.

in:  {"owner", "batchEvaluationId", "error": {"Error", "Cause"} (absent when nothing failed)}, or an
     EventBridge "Step Functions Execution Status Change" event (FAILED / TIMED_OUT / ABORTED).
out: {"owner", "batchEvaluationId", "status"}

It also completes a Delete that raced the run (objects written after it are removed) and re-starts
the owner's jobs whose Start crashed before their run began (older than the grace period).
"""

from __future__ import annotations

from typing import Any

from batcheval.observability import lambda_entry
from batcheval.observability import pipeline_logger as logger
from batcheval.pipeline.events import console_job_ref, is_console_request, job_ref, status_change
from batcheval.pipeline.runtime import get_runtime


@lambda_entry(logger, correlation_id_path="batchEvaluationId || executionArn || detail.executionArn")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    runtime = get_runtime()
    changed = status_change(event)
    error: dict[str, Any] | None
    if changed is not None:
        ref, error = changed
    else:
        ref = (
            console_job_ref(event, str(event.get("executionArn") or ""))
            if is_console_request(event)
            else job_ref(event)
        )
        error = event.get("error")
    status = runtime.lifecycle.finalize(ref.owner, ref.job_id, error)
    service = runtime.job_service()
    if status is None or status == "DELETING":
        service.purge(ref.owner, ref.job_id)  # a Delete raced the run: remove what it wrote since
        if status == "DELETING":
            service.delete(ref.owner, ref.job_id)
    if runtime.settings.state_machine_arn:
        resumed = service.resume_stranded(ref.owner, grace_seconds=runtime.settings.stranded_grace_seconds)
        if resumed:
            logger.warning("re-started stranded jobs", extra={"jobs": [job.job_id for job in resumed]})
    return {"owner": ref.owner, "batchEvaluationId": ref.job_id, "status": status}
