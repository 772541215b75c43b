from batcheval.log_events import EVENT_OVERHEAD_BYTES, MAX_BATCH_BYTES, MAX_BATCH_EVENTS
from batcheval.traces.sample_logs import (
    destinations,
    log_event_batches,
    runtime_log_group,
)
from batcheval.traces.samples import generate


def test_batches_respect_put_log_events_limits_and_time_order():
    # Given many small records and a few large ones, out of time order
    small = [
        {"traceId": "t", "spanId": f"{i:016x}", "startTimeUnixNano": (20_000 - i) * 10**6}
        for i in range(20_000)
    ]
    large = [
        {"traceId": "t", "spanId": "big", "timeUnixNano": i * 10**6, "body": "x" * 400_000} for i in range(5)
    ]

    # When batched
    batches = log_event_batches(small + large)

    # Then no batch exceeds 10,000 events or 1 MB, and events are in time order overall
    assert sum(len(b) for b in batches) == 20_005
    assert all(len(b) <= MAX_BATCH_EVENTS for b in batches)
    assert all(sum(len(e["message"]) + EVENT_OVERHEAD_BYTES for e in b) <= MAX_BATCH_BYTES for b in batches)
    stamps = [e["timestamp"] for b in batches for e in b]
    assert stamps == sorted(stamps)


def test_events_more_than_a_day_apart_go_in_separate_batches():
    records = [{"traceId": "t", "spanId": str(i), "startTimeUnixNano": i * 86_400 * 10**9} for i in range(3)]
    assert [len(b) for b in log_event_batches(records)] == [1, 1, 1]


def test_split_samples_route_spans_to_aws_spans_and_event_records_to_the_runtime_group():
    # Given split and unified samples
    group = runtime_log_group("Agent-abc1234567")
    split, unified = generate(3, seed=1, mode="split"), generate(3, seed=1)

    # When routed
    split_routes, unified_routes = destinations(split, group), destinations(unified, group)

    # Then they go where the runtime's exporter puts them
    assert group == "/aws/bedrock-agentcore/runtimes/Agent-abc1234567-DEFAULT"
    assert set(unified_routes) == {(group, "spans")}
    assert set(split_routes) == {("aws/spans", "default"), (group, "otel-rt-logs")}
    assert all("startTimeUnixNano" in r for r in split_routes[("aws/spans", "default")])
    assert all("body" in r for r in split_routes[(group, "otel-rt-logs")])


def test_generation_is_deterministic_and_validates_its_arguments():
    assert generate(5, seed=3, ground_truth=True).jsonl() == generate(5, seed=3, ground_truth=True).jsonl()
    assert generate(5, seed=3).jsonl() != generate(5, seed=4).jsonl()
    import pytest

    with pytest.raises(ValueError, match="unknown frameworks"):
        generate(1, seed=1, frameworks=["crewai"])
