"""--load-spans: a user's exported spans into CloudWatch Logs, whatever their age, none lost silently."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from batcheval.aws import AwsClients
from batcheval.errors import ValidationError
from batcheval.local.span_loader import (
    ACCEPTED_AGE_NS,
    NO_TIME,
    RECENT_BY_NS,
    load_spans,
    plan_shift,
)
from batcheval.traces.files import load_sessions
from batcheval.traces.samples import generate

DAY_NS = 86_400 * 10**9
NOW_NS = 1_800_000_000 * 10**9


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield AwsClients(region="us-east-1").client("logs")


def _events(logs: Any, group: str) -> list[dict[str, Any]]:
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    return logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]


def _sample_file(tmp_path: Path, *, age_days: float, now_ns: int, sessions: int = 3) -> tuple[Path, Any]:
    sample = generate(
        sessions,
        seed=5,
        service_name="Agent.DEFAULT",
        start_time_ns=now_ns - int(age_days * DAY_NS),
        window_s=600,
    )
    path = tmp_path / "spans.jsonl"
    path.write_bytes(sample.jsonl())
    return path, sample


def test_recent_spans_are_written_as_they_are(logs: Any, tmp_path: Path) -> None:
    # Given spans from two days ago (real clock: the emulator checks CloudWatch's window)
    now = time.time_ns()
    path, sample = _sample_file(tmp_path, age_days=2, now_ns=now)
    # When loaded
    report = load_spans(logs, path, now_ns=now, log_group="my/spans")
    # Then every record is there, unshifted, with its own time as the event's timestamp
    assert report.written == len(sample.records)
    assert report.shift_ns == 0
    events = _events(logs, "my/spans")
    assert len(events) == len(sample.records)
    first = json.loads(events[0]["message"])
    assert events[0]["timestamp"] == int(first.get("startTimeUnixNano") or first["timeUnixNano"]) // 10**6
    assert report.service_names == {"Agent.DEFAULT"}
    assert "Times kept as they are" in report.describe()


def test_old_spans_are_shifted_as_a_whole_keeping_their_spacing(logs: Any, tmp_path: Path) -> None:
    now = time.time_ns()
    # Given spans 90 days old
    path, _ = _sample_file(tmp_path, age_days=90, now_ns=now)
    before = load_sessions(path).sessions
    # When loaded
    report = load_spans(logs, path, now_ns=now)
    # Then all were written, shifted by one offset so the newest is RECENT_BY old
    events = _events(logs, "aws/spans")
    assert report.written == len(events)
    assert report.shift_ns > 80 * DAY_NS
    assert max(e["timestamp"] for e in events) == (now - RECENT_BY_NS) // 10**6
    # And the sessions read back are the same sessions, moved in time with durations kept
    shifted = tmp_path / "back.jsonl"
    shifted.write_text("\n".join(e["message"] for e in events))
    after = {s.session_id: s for s in load_sessions(shifted).sessions}
    for session in before:
        moved = after[session.session_id]
        assert len(moved.turns) == len(session.turns)
        old = [(t.start_time_ns or 0, t.end_time_ns or 0) for t in session.turns]
        new = [(t.start_time_ns or 0, t.end_time_ns or 0) for t in moved.turns]
        assert new == [(start + report.shift_ns, end + report.shift_ns) for start, end in old]
    assert "Times shifted by +" in report.describe()


def test_a_file_spanning_more_than_the_window_is_refused_whole() -> None:
    with pytest.raises(ValidationError, match="split the file"):
        plan_shift(NOW_NS - 40 * DAY_NS, NOW_NS - 20 * DAY_NS, now_ns=NOW_NS)
    # A file that just fits is shifted, not refused
    shift = plan_shift(
        NOW_NS - 40 * DAY_NS, NOW_NS - 40 * DAY_NS + ACCEPTED_AGE_NS - RECENT_BY_NS, now_ns=NOW_NS
    )
    assert shift == 40 * DAY_NS - ACCEPTED_AGE_NS


def test_future_spans_are_shifted_back(logs: Any) -> None:
    shift = plan_shift(NOW_NS + DAY_NS, NOW_NS + DAY_NS, now_ns=NOW_NS)
    assert shift == -DAY_NS - RECENT_BY_NS


def test_records_that_cannot_be_loaded_are_counted_and_reported(logs: Any, tmp_path: Path) -> None:
    now = time.time_ns()
    path, sample = _sample_file(tmp_path, age_days=1, now_ns=now)
    # Given a file with an undecodable line and a span without any time
    timeless = dict(sample.records[0])
    for key in ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "observedTimeUnixNano"):
        timeless.pop(key, None)
    path.write_bytes(path.read_bytes() + b"{not json\n" + json.dumps(timeless).encode() + b"\n")
    # When loaded
    report = load_spans(logs, path, now_ns=now)
    # Then the rest is written and both problems are named with their counts
    assert report.written == len(sample.records)
    assert report.skipped[NO_TIME] == 1
    assert sum(report.skipped.values()) == 2
    text = report.describe()
    assert "Not loaded: 1 record(s): " + NO_TIME in text


def test_filter_log_events_output_is_accepted(logs: Any, tmp_path: Path) -> None:
    now = time.time_ns()
    _, sample = _sample_file(tmp_path, age_days=30, now_ns=now)
    wrapped = tmp_path / "events.json"
    wrapped.write_text(json.dumps({"events": [{"message": json.dumps(r)} for r in sample.records]}))
    report = load_spans(logs, wrapped, now_ns=now, log_group="g")
    assert report.written == len(sample.records)
    assert report.shift_ns > 0


def test_a_missing_file_is_a_clear_error(logs: Any, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="is not a file"):
        load_spans(logs, tmp_path / "nope.jsonl", now_ns=NOW_NS)
