"""A job's `dataSourceConfig.cloudWatchLogs` (plain dict, as the API model dumps it) as a typed query."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from batcheval.errors import FieldIssue, ValidationError


@dataclass(frozen=True)
class SourceQuery:
    """What to discover. Times are epoch nanoseconds; the window is [start_ns, end_ns)."""

    service_name: str
    log_group_names: tuple[str, ...] = ()
    log_group_prefixes: tuple[str, ...] = ()
    session_ids: frozenset[str] | None = None
    """Only these sessions (filterConfig.sessionIds); `None` = all."""
    start_ns: int | None = None
    end_ns: int | None = None
    trace_filter: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """filterConfig.sessionTraceIds: only these traces of these sessions (the sessions are implied)."""

    def session_allowed(self, session_id: str) -> bool:
        if self.trace_filter and session_id not in self.trace_filter:
            return False
        return self.session_ids is None or session_id in self.session_ids


_MAX_EPOCH_S = 253_402_300_799
"""9999-12-31T23:59:59Z, the last instant a datetime (and the API's timestamp type) can hold."""


def _not_a_timestamp(name: str, value: Any) -> ValidationError:
    return ValidationError(
        f"{name} is not a timestamp: {value!r}", fields=[FieldIssue(name, "not a timestamp")]
    )


def _epoch_ns(value: Any, name: str) -> int:
    """Accept what a dumped API model may hold: datetime, ISO-8601 text or epoch seconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError(f"{name} needs a time zone", fields=[FieldIssue(name, "naive datetime")])
        return int(value.timestamp() * 1_000_000) * 1000
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 <= value <= _MAX_EPOCH_S:  # also NaN; infinities and 1e300 cannot become times
            raise _not_a_timestamp(name, value)
        return int(value * 1_000_000) * 1000
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                return _epoch_ns(float(value), name)
            except ValueError:
                raise _not_a_timestamp(name, value) from None
        return _epoch_ns(parsed, name)
    raise ValidationError(f"{name} is not a timestamp", fields=[FieldIssue(name, "not a timestamp")])


def _strings(value: Any, name: str) -> tuple[str, ...]:
    """A list of non-empty strings (a bare string would otherwise be read as its characters)."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError(
            f"{name} must be a list of strings", fields=[FieldIssue(name, "list of strings")]
        )
    return tuple(value)


def _trace_filter(entries: Any, name: str) -> dict[str, frozenset[str]]:
    if entries is None:
        return {}
    if not isinstance(entries, list | tuple):
        raise ValidationError(f"{name} must be a list", fields=[FieldIssue(name, "list of sessions")])
    trace_filter: dict[str, frozenset[str]] = {}
    for index, entry in enumerate(entries):
        session_id = entry.get("sessionId") if isinstance(entry, Mapping) else None
        if not isinstance(session_id, str) or not session_id:
            raise ValidationError(
                f"{name}[{index}].sessionId is required",
                fields=[FieldIssue(f"{name}[{index}].sessionId", "required")],
            )
        trace_filter[session_id] = frozenset(_strings(entry.get("traceIds"), f"{name}[{index}].traceIds"))
    return trace_filter


def parse_source(cloudwatch_logs: Mapping[str, Any]) -> SourceQuery:
    """Validate and convert `dataSourceConfig.cloudWatchLogs`; raises `ValidationError` naming the field."""
    base = "dataSourceConfig.cloudWatchLogs"
    services = cloudwatch_logs.get("serviceNames") or []
    if len(services) != 1 or not isinstance(services[0], str) or not services[0]:
        raise ValidationError(
            "serviceNames must hold exactly one service name",
            fields=[FieldIssue(f"{base}.serviceNames", "exactly one service name is required")],
        )
    names = _strings(cloudwatch_logs.get("logGroupNames"), f"{base}.logGroupNames")
    prefixes = _strings(cloudwatch_logs.get("logGroupNamePrefixes"), f"{base}.logGroupNamePrefixes")
    if not names and not prefixes:
        raise ValidationError(
            "logGroupNames or logGroupNamePrefixes is required",
            fields=[FieldIssue(f"{base}.logGroupNames", "give log group names or prefixes")],
        )
    filters = cloudwatch_logs.get("filterConfig") or {}
    session_ids = _strings(filters.get("sessionIds"), f"{base}.filterConfig.sessionIds")
    time_range = filters.get("timeRange") or {}
    start_ns = (
        _epoch_ns(time_range["startTime"], f"{base}.filterConfig.timeRange.startTime")
        if time_range.get("startTime") is not None
        else None
    )
    end_ns = (
        _epoch_ns(time_range["endTime"], f"{base}.filterConfig.timeRange.endTime")
        if time_range.get("endTime") is not None
        else None
    )
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise ValidationError(
            "timeRange.endTime must be after startTime",
            fields=[FieldIssue(f"{base}.filterConfig.timeRange", "endTime must be after startTime")],
        )
    trace_filter = _trace_filter(filters.get("sessionTraceIds"), f"{base}.filterConfig.sessionTraceIds")
    return SourceQuery(
        service_name=services[0],
        log_group_names=names,
        log_group_prefixes=prefixes,
        session_ids=frozenset(session_ids) if session_ids else None,
        start_ns=start_ns,
        end_ns=end_ns,
        trace_filter=trace_filter,
    )
