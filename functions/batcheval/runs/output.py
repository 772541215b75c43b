"""Per-session results out of a run: `gen_ai.evaluation.result` log records and EMF metrics.

Records go to the job's resolved output log group/stream (jobs/output.py) in the job owner's account;
EMF documents go to a sibling stream `<stream>-metrics` of the same group, so readers of the results
stream see only result records. PutLogEvents limits are respected: ≤ 10,000 events and ≤ 1,048,576
bytes (message bytes + 26 per event) per call, events in time order, and a call never spans more than
24 hours.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
from botocore.exceptions import ClientError

from batcheval.log_events import ensure_log_stream
from batcheval.log_events import log_batches as wire_batches
from batcheval.results.metrics import to_emf
from batcheval.results.otel import to_log_record
from batcheval.results.records import EvaluationResult

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

METRICS_STREAM_SUFFIX = "-metrics"


@dataclass(frozen=True)
class LogEvent:
    timestamp_ms: int
    message: str


def log_batches(events: Iterable[LogEvent]) -> list[list[LogEvent]]:
    """Events sorted by time and cut into PutLogEvents-sized batches (count, bytes, 24 h span)."""
    return wire_batches(events, timestamp_ms=lambda e: e.timestamp_ms, message=lambda e: e.message)


class LogWriter:
    """Writes events to one group/stream with an injected `logs` client (the owner's account)."""

    def __init__(self, logs: CloudWatchLogsClient) -> None:
        self._logs = logs
        self._ready: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def _ensure(self, group: str, stream: str) -> None:
        with self._lock:
            if (group, stream) in self._ready:
                return
        ensure_log_stream(self._logs, group, stream)
        with self._lock:
            self._ready.add((group, stream))

    def write(self, group: str, stream: str, events: Sequence[LogEvent]) -> int:
        """Put `events`; returns the number of PutLogEvents calls made."""
        if not events:
            return 0
        self._ensure(group, stream)
        calls = 0
        for batch in log_batches(events):
            entries: list[InputLogEventTypeDef] = [
                {"timestamp": e.timestamp_ms, "message": e.message} for e in batch
            ]
            try:
                self._logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=entries)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                # Deleted since this process created it: create it again, once.
                with self._lock:
                    self._ready.discard((group, stream))
                self._ensure(group, stream)
                self._logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=entries)
            calls += 1
        return calls


@dataclass(frozen=True)
class OutputTarget:
    """Where and how a job's results are written (from its resolved outputConfig)."""

    log_group: str
    log_stream: str
    metrics_namespace: str
    service_name: str
    job_arn: str
    job_id: str


def result_events(
    results: Iterable[EvaluationResult], target: OutputTarget, *, time_ns: int
) -> tuple[list[LogEvent], list[LogEvent]]:
    """(result records, EMF documents) as log events stamped `time_ns` (no hidden clock)."""
    records: list[LogEvent] = []
    metrics: list[LogEvent] = []
    time_ms = time_ns // 1_000_000
    for result in results:
        record = to_log_record(
            result, service_name=target.service_name, job_arn=target.job_arn, time_ns=time_ns
        )
        records.append(LogEvent(time_ms, msgspec.json.encode(record).decode()))
        emf = to_emf(
            result,
            service_name=target.service_name,
            batch_evaluation_id=target.job_id,
            timestamp_ms=time_ms,
            namespace=target.metrics_namespace,
        )
        if emf is not None:
            metrics.append(LogEvent(time_ms, msgspec.json.encode(emf).decode()))
    return records, metrics


def write_results(
    writer: LogWriter, results: Iterable[EvaluationResult], target: OutputTarget, *, time_ns: int
) -> None:
    records, metrics = result_events(results, target, time_ns=time_ns)
    writer.write(target.log_group, target.log_stream, records)
    writer.write(target.log_group, target.log_stream + METRICS_STREAM_SUFFIX, metrics)
