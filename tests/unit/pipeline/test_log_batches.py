from batcheval.log_events import MAX_BATCH_BYTES
from batcheval.log_events import MAX_BATCH_SPAN_MS as MAX_SPAN_MS
from batcheval.runs.output import LogEvent, log_batches


def test_batches_respect_count_bytes_time_order_and_span():
    # Given events out of order, more than 10,000 of them, some large, across more than 24 hours
    small = [LogEvent(1_000 + i, "x") for i in range(10_500)]
    big = [LogEvent(5_000 + i, "y" * 400_000) for i in range(4)]
    late = [LogEvent(1_000 + MAX_SPAN_MS + 1, "late")]
    batches = log_batches(list(reversed(small)) + big + late)
    # Then every batch is in time order, within 10,000 events, 1 MB and 24 h, and nothing is lost
    for batch in batches:
        stamps = [e.timestamp_ms for e in batch]
        assert stamps == sorted(stamps)
        assert len(batch) <= 10_000
        assert sum(len(e.message) + 26 for e in batch) <= MAX_BATCH_BYTES
        assert stamps[-1] - stamps[0] <= MAX_SPAN_MS
    assert sum(len(b) for b in batches) == len(small) + len(big) + len(late)


def test_events_more_than_a_day_apart_never_share_a_batch():
    early, late = LogEvent(0, "a"), LogEvent(MAX_SPAN_MS + 1, "b")
    assert log_batches([late, early]) == [[early], [late]]
