"""Discovery by scanning log events with FilterLogEvents: for the embedded runtime and small sources.

It reads every event in the window (moto runs it; CloudWatch allows only 5 FilterLogEvents calls a
second per account, so production discovery uses `InsightsDiscovery`). Loading a batch of references
is one scan of their combined time window, never one call per session.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from batcheval.traces.assemble import Assembly, assemble
from batcheval.traces.discovery.config import SourceQuery
from batcheval.traces.discovery.log_groups import resolve_log_groups
from batcheval.traces.discovery.refs import SessionRef, SessionStats, merge_stats
from batcheval.traces.records import decode, record_kind, service_name_of

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

_MS = 1_000_000
DEFAULT_LOAD_MARGIN_S = 300.0
"""How far a batch's loading scan reaches past its sessions' spans. It only has to cover the gap
between a session's spans and its split-mode event records, which carry their own timestamps, seconds
after the span they belong to; 300 s (discovery's settle time) covers that with room to spare. Every
batch re-reads this much of the log on each side, so a wider margin makes every batch slower (an hour
made a 10,000-session local job read about two hours of events per batch)."""


def _session_id(record: dict[str, Any]) -> str | None:
    attrs = record.get("attributes")
    session_id = attrs.get("session.id") if isinstance(attrs, dict) else None
    return session_id if isinstance(session_id, str) and session_id else None


def _of_service(record: dict[str, Any], service: str | set[str] | None) -> bool:
    """False for a record another service wrote; records that name no service are kept."""
    name = service_name_of(record)
    if name is None or service is None:
        return True
    return name == service if isinstance(service, str) else name in service


class FilterLogEventsDiscovery:
    """`SessionSource` over FilterLogEvents with an injected `logs` client."""

    def __init__(
        self,
        logs: CloudWatchLogsClient,
        *,
        include_aws_spans: bool = True,
        load_margin_s: float = DEFAULT_LOAD_MARGIN_S,
    ) -> None:
        self._logs = logs
        self._include_aws_spans = include_aws_spans
        self._margin_ns = int(load_margin_s * 1e9)
        """Loading widens the window: a session's event records may be stamped after its last span."""

    def resolve_log_groups(self, query: SourceQuery) -> tuple[str, ...]:
        return resolve_log_groups(self._logs, query, include_aws_spans=self._include_aws_spans)

    def _messages(self, log_groups: Sequence[str], start_ns: int, end_ns: int) -> Iterator[str]:
        paginator = self._logs.get_paginator("filter_log_events")
        for group in log_groups:
            pages = paginator.paginate(
                logGroupName=group, startTime=start_ns // _MS, endTime=-(-end_ns // _MS)
            )
            for page in pages:
                for event in page.get("events", ()):
                    yield event["message"]

    def list_sessions(
        self, query: SourceQuery, log_groups: tuple[str, ...], start_ns: int, end_ns: int
    ) -> list[SessionStats]:
        per_group: list[list[SessionStats]] = []
        for group in log_groups:
            stats: dict[str, SessionStats] = {}
            for message in self._messages([group], start_ns, end_ns):
                record, _ = decode(message)
                if record is None or record_kind(record) != "span":
                    continue
                session_id = _session_id(record)
                if session_id is None or service_name_of(record) != query.service_name:
                    continue
                start = record.get("startTimeUnixNano")
                if not isinstance(start, int) or not start_ns <= start < end_ns:
                    continue
                end = record.get("endTimeUnixNano")
                last = end if isinstance(end, int) and end > start else start
                item = SessionStats(session_id, start, last, 1)
                known = stats.get(session_id)
                stats[session_id] = item if known is None else known.merged(item)
            per_group.append(list(stats.values()))
        return list(merge_stats(per_group).values())

    def load(self, refs: Sequence[SessionRef], *, keep_raw: bool = True) -> Assembly:
        if not refs:
            return Assembly(sessions=[])
        wanted = {ref.session_id: ref.service_name for ref in refs}
        services = set(wanted.values())
        groups = sorted({group for ref in refs for group in ref.log_groups})
        start = min(ref.first_seen_ns for ref in refs) - self._margin_ns
        end = max(ref.last_seen_ns for ref in refs) + self._margin_ns
        records: list[dict[str, Any] | str] = []
        wanted_traces: set[str] = set()
        for message in self._messages(groups, start, end):
            record, reason = decode(message)
            if record is None:
                if reason is not None:
                    records.append(message)  # let assembly count it
                continue
            session_id = _session_id(record)
            if session_id is not None and session_id not in wanted:
                continue
            if not _of_service(record, wanted.get(session_id) if session_id else services):
                continue  # aws/spans is shared by every agent: another service may reuse a session id
            if session_id is not None and isinstance(record.get("traceId"), str):
                wanted_traces.add(record["traceId"])
            records.append(record)
        selected = [
            r
            for r in records
            if isinstance(r, str) or _session_id(r) is not None or r.get("traceId") in wanted_traces
        ]
        trace_filter = {ref.session_id: ref.trace_ids for ref in refs if ref.trace_ids}
        assembly = assemble(selected, keep_raw=keep_raw, trace_filter=trace_filter or None)
        assembly.sessions = [s for s in assembly.sessions if s.session_id in wanted]
        return assembly
