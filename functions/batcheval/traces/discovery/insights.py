"""Production discovery with CloudWatch Logs Insights (StartQuery / GetQueryResults).

* One *listing* query per time slice: `stats ... by attributes.session.id` over the job's log groups.
  A slice whose result reaches the row limit is split in two and both halves re-run, so any number
  of sessions is listed exactly (a session seen in two slices is merged).
* *Fetch* queries select spans by `attributes.session.id in [...]`, batching as many sessions as fit
  the 10,000-character query limit and the row limit (estimated from the listing's span counts);
  split-mode event records (no session.id) are then fetched by `traceId in [...]` from the runtime
  groups. Results are paged with nextToken (10,000 rows a page); more than 50 log groups (the
  StartQuery limit, reachable through prefixes) are queried 50 at a time.
* At most `max_concurrent_queries` (≤ 100, the account-wide Insights limit) run at once; a
  LimitExceededException (too many queries) is retried with backoff.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from batcheval.errors import SpanQueryError
from batcheval.traces.assemble import Assembly, assemble
from batcheval.traces.discovery.config import SourceQuery
from batcheval.traces.discovery.log_groups import AWS_SPANS_GROUP, resolve_log_groups
from batcheval.traces.discovery.refs import SessionRef, SessionStats, merge_stats
from batcheval.traces.stream import scan_string_value

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import ResultFieldTypeDef

MAX_QUERY_CHARS = 10_000
MAX_RESULT_ROWS = 100_000
"""StartQuery's `limit` maximum; GetQueryResults pages through them 10,000 at a time."""
MAX_CONCURRENT_QUERIES = 100
MAX_LOG_GROUPS_PER_QUERY = 50
_MS = 1_000_000
_DONE = frozenset({"Complete"})
_FAILED = frozenset({"Failed", "Cancelled", "Timeout", "Unknown"})


def quote(value: str) -> str:
    """An Insights string literal: quotes and backslashes escaped, so ids cannot change the query."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _in_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(quote(v) for v in values) + "]"


def listing_query(query: SourceQuery, start_ns: int, end_ns: int, session_ids: Sequence[str] = ()) -> str:
    """Sessions of one service with span activity in [start, end): first/last activity (ms) and spans."""
    lines = [
        "fields toMillis(@timestamp) as ts",
        "| filter ispresent(attributes.session.id) and ispresent(traceId) and ispresent(spanId)",
        f"| filter resource.attributes.service.name = {quote(query.service_name)}",
        f"| filter ts >= {start_ns // _MS} and ts < {-(-end_ns // _MS)}",
    ]
    if session_ids:
        lines.append(f"| filter attributes.session.id in {_in_list(session_ids)}")
    lines.append(
        "| stats min(ts) as firstSeen, max(ts) as lastSeen, count(*) as spanCount by attributes.session.id"
    )
    lines.append("| sort lastSeen desc")
    return "\n".join(lines)


def span_fetch_query(service_name: str, session_ids: Sequence[str]) -> str:
    """Records of these sessions of one service (aws/spans is shared: other agents may reuse an id).

    Event records without a service name are not returned; `_event_records` fetches them by trace.
    """
    return (
        "fields @timestamp, @message\n"
        f"| filter attributes.session.id in {_in_list(session_ids)}\n"
        f"| filter resource.attributes.service.name = {quote(service_name)}\n"
        "| sort @timestamp asc"
    )


def event_fetch_query(trace_ids: Sequence[str]) -> str:
    return (
        "fields @timestamp, @message\n"
        f"| filter traceId in {_in_list(trace_ids)} and not ispresent(startTimeUnixNano)\n"
        "| sort @timestamp asc"
    )


def chunk_by_query_size(
    values: Sequence[str],
    build: Callable[[Sequence[str]], str],
    *,
    max_chars: int = MAX_QUERY_CHARS,
    weights: Sequence[int] | None = None,
    max_weight: int | None = None,
) -> list[list[str]]:
    """Split `values` into the fewest consecutive groups whose query fits `max_chars` (and weight cap)."""
    base = len(build([]))
    groups: list[list[str]] = []
    current: list[str] = []
    size = base
    weight = 0
    for index, value in enumerate(values):
        cost = len(quote(value)) + 2
        item_weight = weights[index] if weights is not None else 0
        if base + cost > max_chars:
            raise ValueError(f"a single id is too long for one query: {value[:40]}…")
        over_weight = max_weight is not None and current and weight + item_weight > max_weight
        if current and (size + cost > max_chars or over_weight):
            groups.append(current)
            current, size, weight = [], base, 0
        current.append(value)
        size += cost
        weight += item_weight
    if current:
        groups.append(current)
    return groups


def _row(fields: Sequence[ResultFieldTypeDef]) -> dict[str, str]:
    return {f["field"]: f.get("value", "") for f in fields}


def _ms_value(text: str) -> int:
    """Insights gives numbers as text, and timestamps as epoch ms or UTC 'YYYY-MM-DD HH:MM:SS.mmm'."""
    try:
        return int(float(text))
    except ValueError:
        parsed = datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)


@dataclass
class QueryResult:
    rows: list[dict[str, str]]
    truncated: bool
    """The row limit was reached: there may be more rows than returned."""


class InsightsDiscovery:
    """`SessionSource` over CloudWatch Logs Insights with an injected `logs` client."""

    def __init__(
        self,
        logs: CloudWatchLogsClient,
        *,
        max_concurrent_queries: int = 10,
        include_aws_spans: bool = True,
        row_limit: int = MAX_RESULT_ROWS,
        max_query_chars: int = MAX_QUERY_CHARS,
        poll_interval_s: float = 1.0,
        query_timeout_s: float = 900.0,
        min_slice_ms: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= max_concurrent_queries <= MAX_CONCURRENT_QUERIES:
            raise ValueError(f"max_concurrent_queries must be 1..{MAX_CONCURRENT_QUERIES}")
        self._logs = logs
        self._concurrency = max_concurrent_queries
        self._include_aws_spans = include_aws_spans
        self._row_limit = row_limit
        self._max_chars = max_query_chars
        self._poll = poll_interval_s
        self._timeout = query_timeout_s
        self._min_slice_ms = min_slice_ms
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max_concurrent_queries)
        """Caps running queries across every thread pool (listing halves start pools of their own)."""

    # --- one query ---------------------------------------------------------------------------------

    def _start(self, log_groups: Sequence[str], start_ms: int, end_ms: int, query_string: str) -> str:
        delay = self._poll
        for _ in range(8):
            try:
                response = self._logs.start_query(
                    logGroupNames=list(log_groups),
                    startTime=start_ms // 1000,
                    endTime=-(-end_ms // 1000),
                    queryString=query_string,
                    limit=self._row_limit,
                )
                return str(response["queryId"])
            except self._logs.exceptions.LimitExceededException:
                self._sleep(delay)  # too many concurrent queries in the account: wait for a slot
                delay = min(delay * 2, 30.0)
        raise SpanQueryError("CloudWatch Logs Insights stayed at its concurrent query limit")

    def run_query(
        self, log_groups: Sequence[str], start_ms: int, end_ms: int, query_string: str
    ) -> QueryResult:
        """Run a query over any number of log groups (≤ 50 per StartQuery) and read every page."""
        size = MAX_LOG_GROUPS_PER_QUERY
        chunks = [log_groups[i : i + size] for i in range(0, len(log_groups), size)] or [log_groups]
        if len(chunks) == 1:
            return self._run_one(chunks[0], start_ms, end_ms, query_string)
        results = [self._run_one(chunk, start_ms, end_ms, query_string) for chunk in chunks]
        return QueryResult(
            [row for r in results for row in r.rows], truncated=any(r.truncated for r in results)
        )

    def _run_one(
        self, log_groups: Sequence[str], start_ms: int, end_ms: int, query_string: str
    ) -> QueryResult:
        """Start a query, wait for it, and read every page of its results."""
        with self._slots:
            return self._run_started(self._start(log_groups, start_ms, end_ms, query_string))

    def _run_started(self, query_id: str) -> QueryResult:
        waited = 0.0
        while True:
            response = self._logs.get_query_results(queryId=query_id)
            status = response.get("status")
            if status in _DONE:
                break
            if status in _FAILED:
                raise SpanQueryError(f"Logs Insights query {query_id} ended {status}")
            if waited >= self._timeout:
                self._logs.stop_query(queryId=query_id)
                raise SpanQueryError(f"Logs Insights query {query_id} did not finish in {self._timeout:.0f}s")
            self._sleep(self._poll)
            waited += self._poll
        rows = [_row(fields) for fields in response.get("results", ())]
        token = response.get("nextToken")
        while token:
            response = self._logs.get_query_results(queryId=query_id, nextToken=token)
            rows.extend(_row(fields) for fields in response.get("results", ()))
            token = response.get("nextToken")
        return QueryResult(rows, truncated=len(rows) >= self._row_limit)

    def _map(self, work: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1 or self._concurrency == 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(items))) as pool:
            return list(pool.map(work, items))

    # --- SessionSource ------------------------------------------------------------------------------

    def resolve_log_groups(self, query: SourceQuery) -> tuple[str, ...]:
        return resolve_log_groups(self._logs, query, include_aws_spans=self._include_aws_spans)

    def list_sessions(
        self, query: SourceQuery, log_groups: tuple[str, ...], start_ns: int, end_ns: int
    ) -> list[SessionStats]:
        id_chunks: list[list[str]] = [[]]
        if query.session_ids is not None or query.trace_filter:
            wanted = sorted(query.session_ids or query.trace_filter.keys())
            id_chunks = chunk_by_query_size(
                wanted, lambda ids: listing_query(query, start_ns, end_ns, ids), max_chars=self._max_chars
            )
        results = self._map(lambda ids: self._list_slice(query, log_groups, start_ns, end_ns, ids), id_chunks)
        return list(merge_stats(results).values())

    def _list_slice(
        self, query: SourceQuery, log_groups: tuple[str, ...], start_ns: int, end_ns: int, ids: Sequence[str]
    ) -> list[SessionStats]:
        text = listing_query(query, start_ns, end_ns, ids)
        result = self.run_query(log_groups, start_ns // _MS, -(-end_ns // _MS), text)
        span_ms = (end_ns - start_ns) // _MS
        if result.truncated and span_ms <= self._min_slice_ms:
            raise SpanQueryError(
                f"more than {self._row_limit:,} sessions were active within {span_ms} ms: "
                "the listing cannot be split further without losing sessions"
            )
        if result.truncated:
            middle = start_ns + (end_ns - start_ns) // 2
            halves = self._map(
                lambda bounds: self._list_slice(query, log_groups, bounds[0], bounds[1], ids),
                [(start_ns, middle), (middle, end_ns)],
            )
            return list(merge_stats(halves).values())
        stats: list[SessionStats] = []
        for row in result.rows:
            session_id = row.get("attributes.session.id")
            if not session_id:
                continue
            stats.append(
                SessionStats(
                    session_id=session_id,
                    first_seen_ns=_ms_value(row["firstSeen"]) * _MS,
                    last_seen_ns=_ms_value(row["lastSeen"]) * _MS,
                    span_count=int(float(row.get("spanCount") or 0)),
                )
            )
        return stats

    def load(self, refs: Sequence[SessionRef], *, keep_raw: bool = True) -> Assembly:
        if not refs:
            return Assembly(sessions=[])
        groups = sorted({group for ref in refs for group in ref.log_groups})
        start_ms = max(0, min(ref.first_seen_ns for ref in refs) // _MS - 3_600_000)
        end_ms = max(ref.last_seen_ns for ref in refs) // _MS + 3_600_000
        batches: list[tuple[str, list[str]]] = []
        for service in sorted({r.service_name for r in refs}):
            ordered = sorted((r for r in refs if r.service_name == service), key=lambda r: r.session_id)
            batches.extend(
                (service, ids)
                for ids in chunk_by_query_size(
                    [r.session_id for r in ordered],
                    functools.partial(span_fetch_query, service),
                    max_chars=self._max_chars,
                    weights=[r.span_count for r in ordered],
                    max_weight=self._row_limit // 2,
                )
            )
        fetched: list[list[str]] = self._map(
            lambda batch: self._fetch_spans(groups, start_ms, end_ms, *batch), batches
        )
        messages = [message for rows in fetched for message in rows]
        runtime_groups = [g for g in groups if g != AWS_SPANS_GROUP]
        if AWS_SPANS_GROUP in groups and runtime_groups:
            messages.extend(self._event_records(messages, runtime_groups, start_ms, end_ms))
        wanted = {ref.session_id for ref in refs}
        trace_filter = {ref.session_id: ref.trace_ids for ref in refs if ref.trace_ids}
        assembly = assemble(messages, keep_raw=keep_raw, trace_filter=trace_filter or None)
        assembly.sessions = [s for s in assembly.sessions if s.session_id in wanted]
        return assembly

    def _fetch_spans(
        self, groups: Sequence[str], start_ms: int, end_ms: int, service: str, session_ids: list[str]
    ) -> list[str]:
        """The records of a batch of sessions; a batch that fills the row limit is halved and re-run.

        The listing's span counts only estimate a batch's rows (loading reads an hour either side of
        the window), so a full result is expected now and then, not a failure.
        """
        result = self.run_query(groups, start_ms, end_ms, span_fetch_query(service, session_ids))
        if not result.truncated:
            return [row["@message"] for row in result.rows if "@message" in row]
        if len(session_ids) == 1:
            raise SpanQueryError(
                f"session {session_ids[0]} has more than {self._row_limit:,} records within an hour of "
                "its activity: too many to load in one query"
            )
        middle = len(session_ids) // 2
        return [
            message
            for half in (session_ids[:middle], session_ids[middle:])
            for message in self._fetch_spans(groups, start_ms, end_ms, service, half)
        ]

    def _event_records(
        self, span_messages: list[str], groups: list[str], start_ms: int, end_ms: int
    ) -> list[str]:
        """Split mode: event records of the fetched spans' traces, from the runtime log groups.

        Recent ADOT versions copy `session.id` onto event records, so the session query already
        returned them; only traces that came back without any event record are queried again.
        """
        span_traces: set[str] = set()
        event_traces: set[str] = set()
        for message in span_messages:
            raw = message.encode()
            trace = scan_string_value(raw, b'"traceId"')
            if trace is not None:
                (span_traces if b'"startTimeUnixNano"' in raw else event_traces).add(trace.decode())
        trace_ids = sorted(span_traces - event_traces)
        if not trace_ids:
            return []
        batches = chunk_by_query_size(trace_ids, event_fetch_query, max_chars=self._max_chars)
        results: list[QueryResult] = self._map(
            lambda ids: self.run_query(groups, start_ms, end_ms, event_fetch_query(ids)), batches
        )
        out: list[str] = []
        for result in results:
            if result.truncated:
                raise SpanQueryError("an event record query reached its row limit; use smaller batches")
            out.extend(row["@message"] for row in result.rows if "@message" in row)
        return out
