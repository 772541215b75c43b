"""Writing generated sample sessions into CloudWatch Logs, where discovery will find them.

Unified mode puts every record in the runtime log group's `spans` stream; split mode puts span
documents in `aws/spans` and event records in the runtime group's `otel-rt-logs` stream (reference
§2.1). PutLogEvents batches respect the service limits: ≤10,000 events, ≤1,048,576 bytes (message bytes
+ 26 per event), ≤24 h between the first and last event, in time order.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import msgspec

from batcheval.log_events import ensure_log_stream, log_batches
from batcheval.traces.samples import SampleSet

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

AWS_SPANS_GROUP = "aws/spans"
AWS_SPANS_STREAM = "default"


def runtime_log_group(agent_id: str, endpoint: str = "DEFAULT") -> str:
    return f"/aws/bedrock-agentcore/runtimes/{agent_id}-{endpoint}"


def destinations(sample: SampleSet, runtime_group: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(log group, stream) → records, as the runtime's exporter would route them."""
    routed: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in sample.records:
        if sample.mode == "unified":
            routed[(runtime_group, "spans")].append(record)
        elif "startTimeUnixNano" in record:
            routed[(AWS_SPANS_GROUP, AWS_SPANS_STREAM)].append(record)
        else:
            routed[(runtime_group, "otel-rt-logs")].append(record)
    return dict(routed)


def _timestamp_ms(record: dict[str, Any]) -> int:
    time_ns = record.get("startTimeUnixNano") or record.get("timeUnixNano") or 0
    return int(time_ns) // 1_000_000


def log_event_batches(records: list[dict[str, Any]]) -> list[list[InputLogEventTypeDef]]:
    """PutLogEvents `logEvents` batches for one stream, within every per-call limit."""
    return log_batches(
        {"timestamp": _timestamp_ms(r), "message": msgspec.json.encode(r).decode()} for r in records
    )


def write_samples(
    logs: CloudWatchLogsClient, sample: SampleSet, *, runtime_group: str
) -> dict[tuple[str, str], int]:
    """Put the sample's records into CloudWatch Logs with the injected `logs` client.

    Returns the number of events written per (log group, stream). Groups and streams are created if
    missing. Raises `ValueError` when CloudWatch rejects events (timestamps outside its window).
    """
    written: dict[tuple[str, str], int] = {}
    for (group, stream), records in destinations(sample, runtime_group).items():
        ensure_log_stream(logs, group, stream)
        for batch in log_event_batches(records):
            response = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
            rejected = response.get("rejectedLogEventsInfo")
            if rejected:  # CloudWatch keeps the rest of the batch and answers 200: never count those
                raise ValueError(
                    f"CloudWatch Logs rejected sample events in {group}/{stream} ({rejected}): it accepts "
                    "events from the last 14 days up to 2 hours ahead; generate(start_time_ns=...) near now"
                )
        written[(group, stream)] = len(records)
    return written
