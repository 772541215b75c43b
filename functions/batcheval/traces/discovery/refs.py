"""Session references (one manifest line each) and the choice of which discovered sessions to evaluate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from batcheval.traces.discovery.config import SourceQuery


@dataclass(frozen=True)
class SessionStats:
    """What a listing query learns about one session without reading its content."""

    session_id: str
    first_seen_ns: int
    last_seen_ns: int
    span_count: int

    def merged(self, other: SessionStats) -> SessionStats:
        """The same session seen by two queries (time slices, log groups)."""
        return SessionStats(
            self.session_id,
            min(self.first_seen_ns, other.first_seen_ns),
            max(self.last_seen_ns, other.last_seen_ns),
            self.span_count + other.span_count,
        )


@dataclass(frozen=True)
class SessionRef:
    """Everything needed to load one session again: small enough for a Distributed Map item."""

    session_id: str
    service_name: str
    log_groups: tuple[str, ...]
    first_seen_ns: int
    last_seen_ns: int
    span_count: int
    trace_ids: tuple[str, ...] = ()
    """Only these traces (filterConfig.sessionTraceIds); empty = all traces."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "sessionId": self.session_id,
            "serviceName": self.service_name,
            "logGroups": list(self.log_groups),
            "firstSeenNs": self.first_seen_ns,
            "lastSeenNs": self.last_seen_ns,
            "spanCount": self.span_count,
        }
        if self.trace_ids:
            data["traceIds"] = list(self.trace_ids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionRef:
        return cls(
            session_id=data["sessionId"],
            service_name=data["serviceName"],
            log_groups=tuple(data["logGroups"]),
            first_seen_ns=int(data["firstSeenNs"]),
            last_seen_ns=int(data["lastSeenNs"]),
            span_count=int(data["spanCount"]),
            trace_ids=tuple(data.get("traceIds") or ()),
        )


@dataclass
class DiscoveryResult:
    """Sessions to evaluate (most recent activity first) and how many were found but left out."""

    refs: list[SessionRef]
    total: int
    """Every session found in the window (totalNumberOfSessions)."""
    ignored_over_cap: int = 0
    """Beyond `max_sessions`: the least recent are left out (part of numberOfSessionsIgnored)."""
    ignored_unsettled: int = 0
    """Active within the settle time of the window's end: possibly unfinished, not evaluated."""
    log_groups: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ignored(self) -> int:
        return self.ignored_over_cap + self.ignored_unsettled


def merge_stats(groups: Iterable[Iterable[SessionStats]]) -> dict[str, SessionStats]:
    merged: dict[str, SessionStats] = {}
    for stats in groups:
        for item in stats:
            known = merged.get(item.session_id)
            merged[item.session_id] = item if known is None else known.merged(item)
    return merged


def select_sessions(
    stats: Iterable[SessionStats],
    query: SourceQuery,
    log_groups: tuple[str, ...],
    *,
    window_end_ns: int,
    max_sessions: int,
    settle_ns: int,
) -> DiscoveryResult:
    """Apply the session filters, the settle time and the cap (most recent kept; ties by session id)."""
    found = [s for s in stats if query.session_allowed(s.session_id)]
    settled_before = window_end_ns - settle_ns
    settled = [s for s in found if s.last_seen_ns < settled_before]
    settled.sort(key=lambda s: (-s.last_seen_ns, s.session_id))
    kept = settled[:max_sessions]
    refs = [
        SessionRef(
            session_id=s.session_id,
            service_name=query.service_name,
            log_groups=log_groups,
            first_seen_ns=s.first_seen_ns,
            last_seen_ns=s.last_seen_ns,
            span_count=s.span_count,
            trace_ids=tuple(sorted(query.trace_filter.get(s.session_id, ()))),
        )
        for s in kept
    ]
    return DiscoveryResult(
        refs=refs,
        total=len(found),
        ignored_over_cap=len(settled) - len(kept),
        ignored_unsettled=len(found) - len(settled),
        log_groups=log_groups,
    )
