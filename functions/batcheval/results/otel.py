"""A result as the OpenTelemetry `gen_ai.evaluation.result` log record AgentCore writes to CloudWatch.

Attribute names follow reference §3.2 (read from aws/agentcore-cli's parser of a recorded batch
stream). Inferred, not read: the Title-case level spelling for TOOL_CALL ("Tool") and
`rating_scale` "Categorical" for label-only results. Errored results carry `error.type` /
`error.message` and no score, label or explanation, as the service's errored records do.
"""

from __future__ import annotations

from typing import Any

from batcheval.results.records import EvaluationResult, Level

_LEVEL_TITLE: dict[Level, str] = {"SESSION": "Session", "TRACE": "Trace", "TOOL_CALL": "Tool"}


def to_log_record(
    result: EvaluationResult,
    *,
    service_name: str,
    job_arn: str,
    time_ns: int,
    tool_name: str | None = None,
) -> dict[str, Any]:
    """The log record for `result`; `time_ns` is supplied by the caller (no hidden clock)."""
    span = result.context
    attributes: dict[str, Any] = {
        "event.name": "gen_ai.evaluation.result",
        "gen_ai.evaluation.name": result.evaluator_id,
        "session.id": span.session_id,
        "aws.bedrock_agentcore.evaluation_level": _LEVEL_TITLE[result.level],
        "aws.bedrock_agentcore.evaluator.arn": result.evaluator_arn,
        "aws.bedrock_agentcore.evaluator.rating_scale": "Categorical"
        if result.value is None
        else "Numerical",
        "aws.bedrock_agentcore.evaluation_job.arn": job_arn,
    }
    if span.trace_id:
        attributes["gen_ai.response.id"] = span.trace_id
    if tool_name and result.level == "TOOL_CALL":
        attributes["gen_ai.tool.name"] = tool_name
    if result.evaluation_dimension_name:
        attributes["gen_ai.evaluation.dimension"] = result.evaluation_dimension_name
    if result.failed:
        attributes["error.type"] = result.error_code
        attributes["error.message"] = result.error_message or ""
    else:
        if result.value is not None:
            attributes["gen_ai.evaluation.score.value"] = result.value
        if result.label is not None:
            attributes["gen_ai.evaluation.score.label"] = result.label
        if result.explanation is not None:
            attributes["gen_ai.evaluation.explanation"] = result.to_wire().get("explanation", "")
    if result.token_usage is not None:
        attributes["gen_ai.usage.input_tokens"] = result.token_usage.input_tokens
        attributes["gen_ai.usage.output_tokens"] = result.token_usage.output_tokens
    record: dict[str, Any] = {
        "resource": {"attributes": {"service.name": service_name, "aws.service.type": "gen_ai_agent"}},
        "name": "gen_ai.evaluation.result",
        "timeUnixNano": time_ns,
        "observedTimeUnixNano": time_ns,
        "severityNumber": 9,
        "attributes": attributes,
    }
    if span.trace_id:
        record["traceId"] = span.trace_id
    if span.span_id:
        record["spanId"] = span.span_id
    return record
