"""The discovery contract both backends implement, and the steps that do not depend on the backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from batcheval.traces.assemble import Assembly
from batcheval.traces.discovery.config import SourceQuery, parse_source
from batcheval.traces.discovery.refs import DiscoveryResult, SessionRef, SessionStats, select_sessions
from batcheval.traces.model import Session

DAY_NS = 86_400 * 1_000_000_000


@dataclass(frozen=True)
class DiscoverySettings:
    """Per-deployment knobs (the managed service's fixed 500-session cap becomes `max_sessions`)."""

    max_sessions: int = 10_000
    settle_seconds: float = 300.0
    """Sessions active this close to the window's end may be unfinished (ingestion lags 2-5 min)."""
    default_lookback_days: float = 30.0
    """Window start when the job gives no timeRange.startTime."""

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        if self.settle_seconds < 0:
            raise ValueError("settle_seconds cannot be negative")


class SessionSource(Protocol):
    """A place sessions live in (CloudWatch Logs through Insights, or through FilterLogEvents)."""

    def resolve_log_groups(self, query: SourceQuery) -> tuple[str, ...]:
        """The log groups to read for the query."""
        ...

    def list_sessions(
        self, query: SourceQuery, log_groups: tuple[str, ...], start_ns: int, end_ns: int
    ) -> list[SessionStats]:
        """Every session of the query's service with span activity in [start_ns, end_ns)."""
        ...

    def load(self, refs: Sequence[SessionRef], *, keep_raw: bool = True) -> Assembly:
        """The sessions of `refs` (those that still have spans), assembled."""
        ...


def discover(
    source: SessionSource,
    cloudwatch_logs: Mapping[str, Any],
    settings: DiscoverySettings,
    *,
    now_ns: int,
) -> DiscoveryResult:
    """Sessions a job should evaluate, most recent first, with counts of those left out.

    `now_ns` is passed in (no hidden clock): the window ends at timeRange.endTime or now.
    """
    query = parse_source(cloudwatch_logs)
    end_ns = min(query.end_ns, now_ns) if query.end_ns is not None else now_ns
    start_ns = (
        query.start_ns
        if query.start_ns is not None
        else end_ns - int(settings.default_lookback_days * DAY_NS)
    )
    log_groups = source.resolve_log_groups(query)
    if not log_groups:
        return DiscoveryResult(refs=[], total=0, log_groups=())
    if start_ns >= end_ns:  # startTime not yet reached: StartQuery would reject endTime < startTime
        return DiscoveryResult(refs=[], total=0, log_groups=log_groups)
    stats = source.list_sessions(query, log_groups, start_ns, end_ns)
    return select_sessions(
        stats,
        query,
        log_groups,
        window_end_ns=end_ns,
        max_sessions=settings.max_sessions,
        settle_ns=int(settings.settle_seconds * 1e9),
    )


def load_session(source: SessionSource, ref: SessionRef, *, keep_raw: bool = True) -> Session | None:
    """One session from its reference; `None` when its spans are gone (e.g. expired by retention)."""
    for session in source.load([ref], keep_raw=keep_raw).sessions:
        if session.session_id == ref.session_id:
            return session
    return None
