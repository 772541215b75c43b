"""ScoreBatch step: score one Distributed Map batch of sessions within this invocation's deadline.

in:  {"Items": [SessionRef json, ...], "BatchInput": {"owner", "batchEvaluationId"}}
out: {"scored", "failed", "remaining": [SessionRef json, ...]} (remaining: handed back at the deadline)
"""

from __future__ import annotations

from typing import Any

from batcheval.observability import lambda_entry, pipeline_logger
from batcheval.pipeline.runtime import get_runtime
from batcheval.traces.discovery import SessionRef


@lambda_entry(pipeline_logger, correlation_id_path="BatchInput.batchEvaluationId")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    runtime = get_runtime()
    batch = event["BatchInput"]
    refs = [SessionRef.from_json(item) for item in event.get("Items") or []]
    outcome = runtime.scorer.score(
        str(batch["owner"]),
        str(batch["batchEvaluationId"]),
        refs,
        part=str(context.aws_request_id),
        remaining_ms=context.get_remaining_time_in_millis,
    )
    return outcome.to_json()
