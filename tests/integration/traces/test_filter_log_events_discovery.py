import time
from typing import Any

import boto3
import msgspec
import pytest
from moto import mock_aws

from batcheval.errors import ValidationError
from batcheval.traces.assemble import assemble
from batcheval.traces.discovery import (
    DiscoverySettings,
    FilterLogEventsDiscovery,
    discover,
    load_session,
    read_manifest,
    write_manifest,
)
from batcheval.traces.sample_logs import runtime_log_group, write_samples
from batcheval.traces.samples import FRAMEWORKS, generate

RUNTIME_GROUP = runtime_log_group("TravelAgent-abc1234567")
HOUR_NS = 3600 * 10**9


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield {name: boto3.client(name, region_name="us-east-1") for name in ("logs", "s3", "kms")}


def _config(**filters):
    config: dict[str, Any] = {"serviceNames": ["TravelAgent.DEFAULT"], "logGroupNames": [RUNTIME_GROUP]}
    if filters:
        config["filterConfig"] = filters
    return config


@pytest.mark.parametrize("mode", ["unified", "split"])
def test_sessions_written_to_cloudwatch_are_discovered_manifested_and_loaded(aws, mode):
    # Given sample sessions of every framework written to CloudWatch Logs as the runtime would
    now_ns = time.time_ns()
    sample = generate(8, seed=4, mode=mode, frameworks=FRAMEWORKS, start_time_ns=now_ns - 2 * HOUR_NS)
    written = write_samples(aws["logs"], sample, runtime_group=RUNTIME_GROUP)
    assert sum(written.values()) == len(sample.records)
    source = FilterLogEventsDiscovery(aws["logs"])

    # When discovered and written to an SSE-KMS manifest
    result = discover(source, _config(), DiscoverySettings(settle_seconds=0), now_ns=now_ns)
    aws["s3"].create_bucket(Bucket="jobs")
    key_id = aws["kms"].create_key()["KeyMetadata"]["KeyId"]
    assert write_manifest(aws["s3"], "jobs", "job-1/manifest.jsonl", result.refs, kms_key_id=key_id) == 8

    # Then every session is found once, most recent first, and the manifest round-trips
    assert result.total == 8
    assert result.ignored == 0
    assert sorted(r.session_id for r in result.refs) == sorted(sample.session_ids)
    last_seen = [r.last_seen_ns for r in result.refs]
    assert last_seen == sorted(last_seen, reverse=True)
    head = aws["s3"].head_object(Bucket="jobs", Key="job-1/manifest.jsonl")
    assert head["ServerSideEncryption"] == "aws:kms"
    refs = read_manifest(aws["s3"], "jobs", "job-1/manifest.jsonl")
    assert refs == result.refs
    expected_groups = (RUNTIME_GROUP,) if mode == "unified" else (RUNTIME_GROUP, "aws/spans")
    assert refs[0].log_groups == expected_groups

    # And loading from references gives the sessions the raw records describe
    expected = {s.session_id: s for s in assemble(sample.records).sessions}
    loaded = source.load(refs)
    assert loaded.skipped == []
    assert {s.session_id: s for s in loaded.sessions} == expected
    one = load_session(source, refs[3])
    assert one == expected[refs[3].session_id]
    assert all(len(line) < 1024 for line in (msgspec.json.encode(r.to_json()) for r in refs))


def test_time_range_cap_settle_and_session_filters(aws):
    # Given sessions spread over two hours ending now
    now_ns = time.time_ns()
    sample = generate(12, seed=8, start_time_ns=now_ns - 2 * HOUR_NS, window_s=7000, max_turns=1)
    write_samples(aws["logs"], sample, runtime_group=RUNTIME_GROUP)
    source = FilterLogEventsDiscovery(aws["logs"])
    everything = discover(source, _config(), DiscoverySettings(settle_seconds=0), now_ns=now_ns)
    by_recency = [r.session_id for r in everything.refs]

    # When capped at 5 sessions with a 30-minute settle time
    capped = discover(
        source, _config(), DiscoverySettings(max_sessions=5, settle_seconds=1800), now_ns=now_ns
    )

    # Then recent (unsettled) sessions are ignored and only the 5 most recent of the rest are kept
    unsettled = [r for r in everything.refs if r.last_seen_ns >= now_ns - 1800 * 10**9]
    assert capped.ignored_unsettled == len(unsettled)
    assert capped.ignored_over_cap == 12 - len(unsettled) - 5
    assert [r.session_id for r in capped.refs] == by_recency[len(unsettled) : len(unsettled) + 5]

    # When filtered by session ids, by trace ids, and by a time range in the past hour
    picked = discover(
        source, _config(sessionIds=by_recency[:2]), DiscoverySettings(settle_seconds=0), now_ns=now_ns
    )
    oldest = everything.refs[-1]
    traced = discover(
        source,
        _config(sessionTraceIds=[{"sessionId": oldest.session_id, "traceIds": ["0" * 32]}]),
        DiscoverySettings(settle_seconds=0),
        now_ns=now_ns,
    )
    recent = discover(
        source,
        _config(timeRange={"startTime": (now_ns - HOUR_NS) / 1e9, "endTime": now_ns / 1e9}),
        DiscoverySettings(settle_seconds=0),
        now_ns=now_ns,
    )

    # Then each keeps only what it names
    assert sorted(r.session_id for r in picked.refs) == sorted(by_recency[:2])
    assert [r.session_id for r in traced.refs] == [oldest.session_id]
    assert traced.refs[0].trace_ids == ("0" * 32,)
    assert source.load(traced.refs).sessions == []  # that trace does not exist: nothing to load
    assert 0 < recent.total < 12
    assert all(r.last_seen_ns >= now_ns - HOUR_NS for r in recent.refs)


def test_missing_log_group_is_a_validation_error(aws):
    source = FilterLogEventsDiscovery(aws["logs"])
    with pytest.raises(ValidationError, match="does not exist"):
        discover(source, _config(), DiscoverySettings(), now_ns=time.time_ns())


def test_log_group_prefixes_select_matching_groups(aws):
    # Given sessions in two runtime groups and an unrelated group
    now_ns = time.time_ns()
    other = runtime_log_group("OtherAgent-abc1234567")
    write_samples(
        aws["logs"], generate(2, seed=1, start_time_ns=now_ns - HOUR_NS), runtime_group=RUNTIME_GROUP
    )
    write_samples(aws["logs"], generate(3, seed=2, start_time_ns=now_ns - HOUR_NS), runtime_group=other)
    aws["logs"].create_log_group(logGroupName="/unrelated")

    # When discovering by prefix
    config = {
        "serviceNames": ["TravelAgent.DEFAULT"],
        "logGroupNamePrefixes": ["/aws/bedrock-agentcore/runtimes/"],
    }
    result = discover(
        FilterLogEventsDiscovery(aws["logs"]), config, DiscoverySettings(settle_seconds=0), now_ns=now_ns
    )

    # Then both runtime groups are read, and nothing else
    assert result.total == 5
    assert result.log_groups == (RUNTIME_GROUP, other) or result.log_groups == (other, RUNTIME_GROUP)


def test_a_session_id_reused_by_another_service_in_aws_spans_is_not_mixed_in(aws):
    # Given two agents in split mode (both write spans to the shared aws/spans) reusing session ids
    now_ns = time.time_ns()
    mine = generate(2, seed=1, mode="split", start_time_ns=now_ns - 2 * HOUR_NS)
    theirs = generate(
        2, seed=2, mode="split", service_name="OtherAgent.DEFAULT", start_time_ns=now_ns - 2 * HOUR_NS
    )
    reused = dict(zip(theirs.session_ids, mine.session_ids, strict=True))
    for record in theirs.records:
        attributes = record.get("attributes") or {}
        if attributes.get("session.id") in reused:
            attributes["session.id"] = reused[attributes["session.id"]]
    write_samples(aws["logs"], mine, runtime_group=RUNTIME_GROUP)
    write_samples(aws["logs"], theirs, runtime_group=runtime_log_group("OtherAgent-abc1234567"))
    source = FilterLogEventsDiscovery(aws["logs"])

    # When this agent's sessions are discovered and loaded
    refs = discover(source, _config(), DiscoverySettings(settle_seconds=0), now_ns=now_ns).refs
    loaded = source.load(refs)

    # Then they hold only this agent's traces
    expected = {s.session_id: s for s in assemble(mine.records).sessions}
    assert {s.session_id: s for s in loaded.sessions} == expected
    assert loaded.skipped == []


def test_writing_samples_cloudwatch_rejects_is_an_error_not_a_count(aws):
    # Given sample sessions three weeks old (CloudWatch accepts events up to 14 days old)
    old = generate(2, seed=3, start_time_ns=time.time_ns() - 21 * 24 * HOUR_NS)

    # When written, Then the rejection is reported instead of counting the events as written
    with pytest.raises(ValueError, match="rejected sample events"):
        write_samples(aws["logs"], old, runtime_group=RUNTIME_GROUP)


@pytest.mark.parametrize(("margin_s", "kept"), [(None, True), (60.0, False)])
def test_split_mode_event_record_stamped_inside_the_load_margin_is_loaded(aws, margin_s, kept):
    # Given split-mode sessions where one session's last event record is stamped 295 s after its last span
    now_ns = time.time_ns()
    sample = generate(3, seed=5, mode="split", start_time_ns=now_ns - 2 * HOUR_NS)
    tool_events = [
        r
        for r in sample.records
        if "timeUnixNano" in r and r["body"]["input"]["messages"][0]["role"] == "tool"
    ]
    late = tool_events[-1]  # a tool result: the session's content depends on it
    target = late["attributes"]["session.id"]
    mine = [r for r in sample.records if r.get("attributes", {}).get("session.id") == target]
    last_span_ns = max(r["endTimeUnixNano"] for r in mine if "endTimeUnixNano" in r)
    late["timeUnixNano"] = late["observedTimeUnixNano"] = last_span_ns + 295 * 10**9
    write_samples(aws["logs"], sample, runtime_group=RUNTIME_GROUP)
    source = (
        FilterLogEventsDiscovery(aws["logs"])
        if margin_s is None
        else FilterLogEventsDiscovery(aws["logs"], load_margin_s=margin_s)
    )
    refs = discover(source, _config(), DiscoverySettings(settle_seconds=0), now_ns=now_ns).refs

    # When the session is loaded alone (the default margin; then a margin shorter than the gap)
    loaded = {s.session_id: s for s in source.load([r for r in refs if r.session_id == target]).sessions}

    # Then with the default margin the late event record is part of the session; a shorter one misses it
    expected = next(s for s in assemble(sample.records).sessions if s.session_id == target)
    without = assemble([r for r in sample.records if r is not late]).sessions
    assert next(s for s in without if s.session_id == target) != expected  # the record shows in the session
    assert (loaded[target] == expected) is kept
