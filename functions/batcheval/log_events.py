"""PutLogEvents batches within the service's per-call limits, and the group/stream they go to.

One implementation for every writer (sample sessions, loaded span files, evaluation results): a call
holds ≤ 10,000 events and ≤ 1,048,576 bytes (message bytes + 26 per event), in time order, spanning
less than 24 hours.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000 - 1

Event = TypeVar("Event")


def _wire_timestamp(event: Any) -> int:
    return int(event["timestamp"])


def _wire_message(event: Any) -> str:
    return str(event["message"])


def log_batches(
    events: Iterable[Event],
    *,
    timestamp_ms: Callable[[Event], int] = _wire_timestamp,
    message: Callable[[Event], str] = _wire_message,
) -> list[list[Event]]:
    """`events` sorted by time and cut into PutLogEvents batches.

    Events are PutLogEvents' own `{"timestamp", "message"}` dicts unless accessors say otherwise.
    An event too large for any call is a ValueError, never silently dropped.
    """
    batches: list[list[Event]] = []
    current: list[Event] = []
    size = 0
    first_ms = 0
    for event in sorted(events, key=timestamp_ms):
        event_size = len(message(event).encode()) + EVENT_OVERHEAD_BYTES
        if event_size > MAX_BATCH_BYTES:
            raise ValueError("a log event is larger than PutLogEvents accepts")
        stamp = timestamp_ms(event)
        if current and (
            len(current) >= MAX_BATCH_EVENTS
            or size + event_size > MAX_BATCH_BYTES
            or stamp - first_ms > MAX_BATCH_SPAN_MS
        ):
            batches.append(current)
            current, size = [], 0
        if not current:
            first_ms = stamp
        current.append(event)
        size += event_size
    if current:
        batches.append(current)
    return batches


def ensure_log_stream(logs: CloudWatchLogsClient, group: str, stream: str) -> None:
    """Create the group and stream unless they exist (with the injected `logs` client)."""
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
