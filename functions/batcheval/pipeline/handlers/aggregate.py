"""Aggregate step: merge the committed batches into evaluationResults and the final status.

in:  {"owner", "batchEvaluationId", "mapRun": <Map ResultWriter output> | null}
out: {"owner", "batchEvaluationId", "status"}
"""

from __future__ import annotations

from typing import Any

from batcheval.observability import lambda_entry, pipeline_logger
from batcheval.pipeline.events import job_ref
from batcheval.pipeline.runtime import get_runtime


@lambda_entry(pipeline_logger, correlation_id_path="batchEvaluationId")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ref = job_ref(event)
    # The ledger, not the Map's result files, is the record of what was scored (mapRun is not read).
    status = get_runtime().lifecycle.aggregate(ref.owner, ref.job_id)
    return {"owner": ref.owner, "batchEvaluationId": ref.job_id, "status": status}
