"""Logs Insights discovery against the real CloudWatch Logs model (botocore Stubber): moto cannot run it."""

import functools
import threading
import time
import uuid
from typing import Any, cast

import boto3
import msgspec
import pytest
from botocore.stub import ANY, Stubber

from batcheval.errors import SpanQueryError
from batcheval.traces.assemble import assemble
from batcheval.traces.discovery import (
    DiscoverySettings,
    InsightsDiscovery,
    SessionRef,
    discover,
    parse_source,
)
from batcheval.traces.discovery.insights import (
    MAX_QUERY_CHARS,
    chunk_by_query_size,
    event_fetch_query,
    listing_query,
    quote,
    span_fetch_query,
)
from batcheval.traces.samples import generate

GROUP = "/aws/bedrock-agentcore/runtimes/TravelAgent-abc1234567-DEFAULT"
CONFIG = {"serviceNames": ["TravelAgent.DEFAULT"], "logGroupNames": [GROUP]}
NOW_NS = 1_795_140_000 * 10**9


@pytest.fixture
def logs():
    client = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _groups(stubber, *, aws_spans=True):
    stubber.add_response(
        "describe_log_groups", {"logGroups": [{"logGroupName": GROUP}]}, {"logGroupNamePrefix": GROUP}
    )
    found = [{"logGroupName": "aws/spans"}] if aws_spans else []
    stubber.add_response("describe_log_groups", {"logGroups": found}, {"logGroupNamePrefix": "aws/spans"})


def _rows(*rows):
    return [[{"field": k, "value": str(v)} for k, v in row.items()] for row in rows]


def _query(stubber, query_id, query_string, rows, *, groups=ANY, running_first=False):
    stubber.add_response(
        "start_query",
        {"queryId": query_id},
        {
            "logGroupNames": groups,
            "startTime": ANY,
            "endTime": ANY,
            "queryString": query_string,
            "limit": ANY,
        },
    )
    if running_first:
        stubber.add_response("get_query_results", {"status": "Running", "results": []}, {"queryId": query_id})
    stubber.add_response(
        "get_query_results", {"status": "Complete", "results": _rows(*rows)}, {"queryId": query_id}
    )


def _listing_rows(sample):
    stats: dict[str, tuple[int, int, int]] = {}
    for record in sample.records:
        if "startTimeUnixNano" in record:
            sid = record["attributes"]["session.id"]
            first, last, n = stats.get(sid, (10**20, 0, 0))
            ms = record["startTimeUnixNano"] // 10**6
            stats[sid] = (min(first, ms), max(last, ms), n + 1)
    return [
        {"attributes.session.id": sid, "firstSeen": f, "lastSeen": la, "spanCount": n}
        for sid, (f, la, n) in sorted(stats.items(), key=lambda kv: -kv[1][1])
    ]


def test_discovery_lists_sessions_with_one_stats_query(logs):
    # Given a service whose sessions the listing query returns
    client, stubber = logs
    sample = generate(5, seed=9, start_time_ns=NOW_NS - 3 * 3600 * 10**9)
    query = parse_source(CONFIG)
    _groups(stubber)
    start_ns = NOW_NS - 30 * 86400 * 10**9
    _query(
        stubber, "q-list", listing_query(query, start_ns, NOW_NS), _listing_rows(sample), running_first=True
    )
    source = InsightsDiscovery(client, max_concurrent_queries=1, poll_interval_s=0, sleep=lambda s: None)

    # When discovering
    result = discover(source, CONFIG, DiscoverySettings(), now_ns=NOW_NS)

    # Then the listing's sessions become references, most recent first, reading both groups
    assert result.total == 5
    assert [r.session_id for r in result.refs] == [
        row["attributes.session.id"] for row in _listing_rows(sample)
    ]
    assert result.refs[0].log_groups == (GROUP, "aws/spans")
    assert all(r.span_count > 0 for r in result.refs)


def test_listing_query_text_filters_service_window_and_groups_by_session():
    text = listing_query(parse_source(CONFIG), 1_000_000_000, 2_000_000_001, ["a", 'b"x'])
    assert 'resource.attributes.service.name = "TravelAgent.DEFAULT"' in text
    assert "ts >= 1000 and ts < 2001" in text
    assert 'attributes.session.id in ["a", "b\\"x"]' in text
    assert (
        "stats min(ts) as firstSeen, max(ts) as lastSeen, count(*) as spanCount by attributes.session.id"
        in text
    )


def test_a_listing_that_hits_the_row_limit_is_split_in_time_and_merged(logs):
    # Given a row limit of 3 and three sessions, one of them active in both halves of the window
    client, stubber = logs
    query = parse_source(CONFIG)
    start, end = NOW_NS - 4000 * 10**6, NOW_NS
    middle = start + (end - start) // 2
    full = [
        {"attributes.session.id": s, "firstSeen": 1, "lastSeen": 2, "spanCount": 1} for s in ("a", "b", "x")
    ]
    _query(stubber, "q0", listing_query(query, start, end), full)
    _query(
        stubber,
        "q1",
        listing_query(query, start, middle),
        [{"attributes.session.id": "a", "firstSeen": 100, "lastSeen": 200, "spanCount": 3}],
    )
    _query(
        stubber,
        "q2",
        listing_query(query, middle, end),
        [
            {"attributes.session.id": "a", "firstSeen": 300, "lastSeen": 400, "spanCount": 2},
            {
                "attributes.session.id": "c",
                "firstSeen": "2026-11-20 00:00:01.500",
                "lastSeen": 500,
                "spanCount": 1,
            },
        ],
    )
    source = InsightsDiscovery(client, max_concurrent_queries=1, row_limit=3, poll_interval_s=0)

    # When listing
    stats = {s.session_id: s for s in source.list_sessions(query, (GROUP,), start, end)}

    # Then each half was queried and the session seen in both is merged
    assert set(stats) == {"a", "c"}
    assert (stats["a"].first_seen_ns, stats["a"].last_seen_ns, stats["a"].span_count) == (
        100 * 10**6,
        400 * 10**6,
        5,
    )
    assert stats["c"].first_seen_ns == 1795132801500 * 10**6


def test_split_mode_load_fetches_spans_by_session_then_event_records_by_trace(logs):
    # Given split-mode sessions: spans in aws/spans, event records in the runtime group
    client, stubber = logs
    sample = generate(3, seed=12, mode="split", start_time_ns=NOW_NS - 3 * 3600 * 10**9)
    _groups(stubber)
    start_ns = NOW_NS - 30 * 86400 * 10**9
    _query(stubber, "q-list", listing_query(parse_source(CONFIG), start_ns, NOW_NS), _listing_rows(sample))
    source = InsightsDiscovery(client, max_concurrent_queries=1, poll_interval_s=0)
    refs = discover(source, CONFIG, DiscoverySettings(), now_ns=NOW_NS).refs
    spans = [r for r in sample.records if "startTimeUnixNano" in r]
    events = [r for r in sample.records if "startTimeUnixNano" not in r]
    trace_ids = sorted({r["traceId"] for r in spans})
    _query(
        stubber,
        "q-spans",
        span_fetch_query("TravelAgent.DEFAULT", sorted(r.session_id for r in refs)),
        [{"@timestamp": "x", "@message": msgspec.json.encode(r).decode()} for r in spans],
        groups=[GROUP, "aws/spans"],
    )
    _query(
        stubber,
        "q-events",
        event_fetch_query(trace_ids),
        [{"@message": msgspec.json.encode(r).decode()} for r in events],
        groups=[GROUP],
    )

    # When the sessions are loaded from their references
    loaded = source.load(refs)

    # Then they equal the sessions the raw records describe (content joined from the event records)
    assert loaded.sessions == assemble(sample.records).sessions
    assert all(t.user_input for s in loaded.sessions for t in s.turns)


def test_event_records_carrying_session_id_need_no_second_query(logs):
    # Given split-mode records whose event records carry session.id (recent ADOT): one query returns all
    client, stubber = logs
    sample = generate(2, seed=13, mode="split", start_time_ns=NOW_NS - 3 * 3600 * 10**9)
    source = InsightsDiscovery(client, max_concurrent_queries=1, poll_interval_s=0)
    listing = _listing_rows(sample)
    refs = [
        SessionRef(
            row["attributes.session.id"],
            "TravelAgent.DEFAULT",
            (GROUP, "aws/spans"),
            NOW_NS - 10**13,
            NOW_NS,
            20,
        )
        for row in listing
    ]
    _query(
        stubber,
        "q-all",
        span_fetch_query("TravelAgent.DEFAULT", sorted(r.session_id for r in refs)),
        [{"@message": msgspec.json.encode(r).decode()} for r in sample.records],
    )

    # When loaded, Then no event record query was needed and nothing was duplicated
    loaded = source.load(refs)
    assert loaded.sessions == assemble(sample.records).sessions
    assert loaded.skipped == []


def test_span_fetch_reads_only_the_references_service_from_a_shared_log_group(logs):
    # Given a session reference (its id may be reused by another agent writing to the shared aws/spans)
    client, stubber = logs
    mine = generate(1, seed=3, start_time_ns=NOW_NS - 10**11)
    ref = SessionRef(mine.session_ids[0], "TravelAgent.DEFAULT", (GROUP,), NOW_NS - 10**12, NOW_NS, 4)
    text = span_fetch_query("TravelAgent.DEFAULT", [ref.session_id])
    _query(stubber, "q-spans", text, [{"@message": msgspec.json.encode(r).decode()} for r in mine.records])

    # When the session is loaded
    loaded = InsightsDiscovery(client, max_concurrent_queries=1, poll_interval_s=0).load([ref])

    # Then the span fetch asks for the reference's service only, and the session is that service's
    assert 'resource.attributes.service.name = "TravelAgent.DEFAULT"' in text
    assert loaded.sessions == assemble(mine.records).sessions


def test_fetch_batches_stay_within_the_query_size_limit():
    # Given 500 session ids (the API's maximum sessionIds)
    ids = [str(uuid.UUID(int=i)) for i in range(500)]

    # When chunked for span fetch queries
    build = functools.partial(span_fetch_query, "TravelAgent.DEFAULT")
    chunks = chunk_by_query_size(ids, build)

    # Then every query fits 10,000 characters, no id is lost, and few queries are needed
    assert all(len(build(chunk)) <= MAX_QUERY_CHARS for chunk in chunks)
    assert [i for chunk in chunks for i in chunk] == ids
    assert len(chunks) == 3
    # and a row budget splits batches further
    weighted = chunk_by_query_size(ids[:10], build, weights=[40] * 10, max_weight=100)
    assert [len(c) for c in weighted] == [2, 2, 2, 2, 2]


def test_ids_cannot_escape_the_query_string():
    assert quote('x" | delete') == '"x\\" | delete"'
    assert quote("a\\") == '"a\\\\"'


def test_failed_query_is_an_error_and_a_busy_account_is_retried(logs):
    # Given a StartQuery refused once for too many concurrent queries, then a query that fails
    client, stubber = logs
    stubber.add_client_error("start_query", "LimitExceededException", "too many queries")
    stubber.add_response("start_query", {"queryId": "q"})
    stubber.add_response("get_query_results", {"status": "Failed", "results": []}, {"queryId": "q"})
    waits: list[float] = []
    source = InsightsDiscovery(client, poll_interval_s=0.5, sleep=waits.append)

    # When run, Then the refusal was waited out and the failure is reported
    with pytest.raises(SpanQueryError, match="ended Failed"):
        source.run_query([GROUP], 0, 1000, "fields @message")
    assert waits == [0.5]


def test_paged_results_are_all_read(logs):
    client, stubber = logs
    stubber.add_response("start_query", {"queryId": "q"})
    stubber.add_response(
        "get_query_results", {"status": "Complete", "results": _rows({"@message": "1"}), "nextToken": "t"}
    )
    stubber.add_response(
        "get_query_results",
        {"status": "Complete", "results": _rows({"@message": "2"})},
        {"queryId": "q", "nextToken": "t"},
    )
    result = InsightsDiscovery(client, poll_interval_s=0).run_query([GROUP], 0, 1000, "fields @message")
    assert [r["@message"] for r in result.rows] == ["1", "2"]
    assert not result.truncated


def test_more_than_fifty_log_groups_are_queried_fifty_at_a_time(logs):
    # Given 60 log groups (reachable through logGroupNamePrefixes)
    client, stubber = logs
    groups = [f"/aws/bedrock-agentcore/runtimes/agent{i:02d}-DEFAULT" for i in range(60)]
    for query_id, chunk in (("q1", groups[:50]), ("q2", groups[50:])):
        _query(stubber, query_id, "fields @message", [{"@message": query_id}], groups=chunk)

    # When one query is run over all of them, Then two StartQuery calls cover them and rows are joined
    result = InsightsDiscovery(client, poll_interval_s=0).run_query(groups, 0, 1000, "fields @message")
    assert [r["@message"] for r in result.rows] == ["q1", "q2"]


class _CountingLogs:
    """A fake logs client that records how many queries run at once."""

    class exceptions:
        class LimitExceededException(Exception):
            pass

    def __init__(self):
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def start_query(self, **kwargs):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        return {"queryId": kwargs["queryString"]}

    def get_query_results(self, queryId, nextToken=None):
        time.sleep(0.01)
        with self.lock:
            self.running -= 1
        return {"status": "Complete", "results": []}


def test_concurrent_queries_never_exceed_the_configured_cap():
    # Given 12 fetch batches and a cap of 3
    fake = _CountingLogs()
    source = InsightsDiscovery(
        cast(Any, fake), max_concurrent_queries=3, poll_interval_s=0, max_query_chars=200
    )
    refs = [SessionRef(f"session-{i:04d}-{'x' * 20}", "svc", (GROUP,), 1, 2, 1) for i in range(24)]

    # When loading, Then at most 3 queries were in flight at once, and more than one ran in parallel
    source.load(refs)
    assert 1 < fake.peak <= 3
    with pytest.raises(ValueError, match="max_concurrent_queries"):
        InsightsDiscovery(cast(Any, fake), max_concurrent_queries=101)


class _BusyListingLogs(_CountingLogs):
    """Listing results that fill the row limit (3) for any window longer than `full_above_s`."""

    def __init__(self, full_above_s):
        super().__init__()
        self.full_above_s = full_above_s
        self.windows = {}

    def start_query(self, **kwargs):
        query_id = str(len(self.windows))
        self.windows[query_id] = kwargs["endTime"] - kwargs["startTime"]
        super().start_query(**kwargs)
        return {"queryId": query_id}

    def get_query_results(self, queryId, nextToken=None):
        super().get_query_results(queryId, nextToken)
        n = 3 if self.windows[queryId] > self.full_above_s else 1
        rows = [
            {"attributes.session.id": f"s-{queryId}-{i}", "firstSeen": 1, "lastSeen": 2, "spanCount": 1}
            for i in range(n)
        ]
        return {"status": "Complete", "results": _rows(*rows)}


def test_listing_splits_stay_within_the_concurrent_query_cap():
    # Given a listing whose halves keep hitting the row limit down to 2-second windows, and a cap of 2
    fake = _BusyListingLogs(full_above_s=2)
    source = InsightsDiscovery(cast(Any, fake), max_concurrent_queries=2, row_limit=3, poll_interval_s=0)

    # When listing a 32-second window
    stats = source.list_sessions(parse_source(CONFIG), (GROUP,), 0, 32 * 10**9)

    # Then the halves ran in parallel but never more than 2 queries at once
    assert len(stats) == 16
    assert 1 < fake.peak <= 2


def test_a_listing_still_full_at_the_smallest_slice_is_an_error_not_a_silent_cut():
    # Given a listing that fills the row limit however small the window
    fake = _BusyListingLogs(full_above_s=-1)
    source = InsightsDiscovery(cast(Any, fake), max_concurrent_queries=1, row_limit=3, poll_interval_s=0)

    # When listing, Then discovery fails plainly instead of dropping the sessions it cannot see
    with pytest.raises(SpanQueryError, match="cannot be split further"):
        source.list_sessions(parse_source(CONFIG), (GROUP,), 0, 8 * 10**9)


def test_a_time_range_starting_in_the_future_finds_nothing_without_querying(logs):
    # Given a job whose timeRange.startTime is after now
    client, stubber = logs
    _groups(stubber)
    future = {**CONFIG, "filterConfig": {"timeRange": {"startTime": NOW_NS / 1e9 + 3600}}}
    source = InsightsDiscovery(client, max_concurrent_queries=1, poll_interval_s=0)

    # When discovering, Then no query is started (the Stubber has none queued) and nothing is found
    result = discover(source, future, DiscoverySettings(), now_ns=NOW_NS)
    assert (result.refs, result.total) == ([], 0)


def test_a_span_fetch_that_fills_the_row_limit_is_halved_not_failed(logs):
    # Given two sessions whose records fill a row limit of 4 when fetched together (the listing saw 1 span)
    client, stubber = logs
    refs = [
        SessionRef(sid, "TravelAgent.DEFAULT", (GROUP,), NOW_NS - 10**12, NOW_NS, 1) for sid in ("a", "b")
    ]
    both = span_fetch_query("TravelAgent.DEFAULT", ["a", "b"])
    _query(stubber, "q-both", both, [{"@message": f"{{{i}"} for i in range(4)])
    _query(stubber, "q-a", span_fetch_query("TravelAgent.DEFAULT", ["a"]), [{"@message": "{a"}])
    _query(stubber, "q-b", span_fetch_query("TravelAgent.DEFAULT", ["b"]), [{"@message": "{b"}] * 2)
    source = InsightsDiscovery(client, max_concurrent_queries=1, row_limit=4, poll_interval_s=0)

    # When loaded, Then each half was fetched alone and all three records were read (none were lost)
    loaded = source.load(refs)
    assert [(s.reason, s.count) for s in loaded.skipped] == [("truncated record (JSON cut off)", 3)]


def test_one_session_beyond_the_row_limit_is_an_error(logs):
    client, stubber = logs
    ref = SessionRef("a", "TravelAgent.DEFAULT", (GROUP,), NOW_NS - 10**12, NOW_NS, 1)
    _query(stubber, "q-a", span_fetch_query("TravelAgent.DEFAULT", ["a"]), [{"@message": "{"}] * 4)
    source = InsightsDiscovery(client, max_concurrent_queries=1, row_limit=4, poll_interval_s=0)
    with pytest.raises(SpanQueryError, match="too many to load"):
        source.load([ref])
