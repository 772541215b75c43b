"""`batcheval serve --load-spans FILE [--log-group NAME]`: a user's exported spans into CloudWatch Logs.

FILE is what `batcheval inspect` reads (JSON Lines of span documents / event records as CloudWatch
stores them, a JSON array of them, or `aws logs filter-log-events` output; UTF-8 or UTF-16).

CloudWatch Logs (real and emulated) refuses events older than 14 days or more than 2 hours ahead,
and discovery leaves out sessions active in the last few minutes (they may be unfinished), while
exported traces are often weeks old. So when any record falls outside the window, the loader shifts
EVERY record of the file by one offset, so that the newest is `RECENT_BY` old: spacing, order and
durations are kept, inside records (start/end/event times) and on the log events alike. A file
whose records span more than the window cannot be shifted into it and is refused whole; a record
without a time cannot be placed and is reported. Nothing is dropped without being counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from batcheval.errors import ValidationError
from batcheval.log_events import ensure_log_stream, log_batches
from batcheval.traces.files import utf8_source
from batcheval.traces.records import as_nanos, decode, iter_file_items, service_name_of

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

DEFAULT_LOG_GROUP = "aws/spans"
DEFAULT_STREAM = "batcheval-load-spans"
NS_PER_S = 1_000_000_000
ACCEPTED_AGE_NS = 14 * 86_400 * NS_PER_S - 3600 * NS_PER_S
"""CloudWatch's 14 days, less an hour of margin (the load takes time; clocks differ)."""
RECENT_BY_NS = 10 * 60 * NS_PER_S
"""Where a shift puts the newest record: older than discovery's settle time (5 minutes)."""
TIME_FIELDS = ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "observedTimeUnixNano")
NO_TIME = "no startTimeUnixNano / timeUnixNano / observedTimeUnixNano"


@dataclass
class LoadReport:
    """What one file's load did."""

    path: Path
    log_group: str
    log_stream: str
    written: int = 0
    shift_ns: int = 0
    oldest_ns: int | None = None
    newest_ns: int | None = None
    """Original times of the file's oldest and newest record."""
    service_names: set[str] = field(default_factory=set)
    skipped: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        lines = [f"Loaded {self.written} records from {self.path} into {self.log_group} / {self.log_stream}."]
        if self.shift_ns:
            lines.append(
                f"  Times shifted by {_duration(self.shift_ns)} (every record by the same offset, spacing "
                f"kept): CloudWatch Logs refuses events older than 14 days; the newest record is now "
                f"{RECENT_BY_NS // (60 * NS_PER_S)} minutes old."
            )
        elif self.written:
            lines.append("  Times kept as they are (all within CloudWatch Logs' 14-day window).")
        if self.service_names:
            lines.append(
                "  Service names (use in dataSourceConfig.cloudWatchLogs.serviceNames): "
                + ", ".join(sorted(self.service_names))
            )
        for reason, count in sorted(self.skipped.items()):
            lines.append(f"  Not loaded: {count} record(s): {reason}.")
        return "\n".join(lines)


def _duration(ns: int) -> str:
    sign = "-" if ns < 0 else "+"
    seconds = abs(ns) // NS_PER_S
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    return f"{sign}{days} d {hours} h {rest // 60} min"


def record_time_ns(record: dict[str, Any]) -> int | None:
    for name in ("startTimeUnixNano", "timeUnixNano", "observedTimeUnixNano"):
        value = as_nanos(record.get(name))
        if value:
            return value
    return None


def shift_record(record: dict[str, Any], shift_ns: int) -> None:
    """Move every time of the record (its own and its inline events') by `shift_ns`, keeping types."""

    def moved(value: Any) -> Any:
        nanos = as_nanos(value)
        if nanos is None:
            return value
        return str(nanos + shift_ns) if isinstance(value, str) else nanos + shift_ns

    for name in TIME_FIELDS:
        if name in record:
            record[name] = moved(record[name])
    events = record.get("events")
    if isinstance(events, list):
        for event in events:
            if isinstance(event, dict) and "timeUnixNano" in event:
                event["timeUnixNano"] = moved(event["timeUnixNano"])


def read_records(path: Path, report: LoadReport) -> list[tuple[int, dict[str, Any]]]:
    """(time, record) of every record of the file; what cannot be loaded is counted in the report."""
    with utf8_source(path) as readable:
        data = readable.read_bytes()
    timed: list[tuple[int, dict[str, Any]]] = []
    for item in iter_file_items(data):
        record, reason = decode(item)
        if record is None:
            if reason is not None:
                report.skipped[reason] += 1
            continue
        time_ns = record_time_ns(record)
        if time_ns is None:
            report.skipped[NO_TIME] += 1
            continue
        timed.append((time_ns, record))
    return timed


def plan_shift(oldest_ns: int, newest_ns: int, *, now_ns: int) -> int:
    """0 when the file fits CloudWatch's window as it is, else the one offset that makes it fit."""
    earliest = now_ns - ACCEPTED_AGE_NS
    latest = now_ns - RECENT_BY_NS
    if oldest_ns >= earliest and newest_ns <= latest:
        return 0
    if newest_ns - oldest_ns > latest - earliest:
        raise ValidationError(
            f"the records span {_duration(newest_ns - oldest_ns)[1:]}, more than CloudWatch Logs' 14-day "
            "window can hold at once: split the file by time and load each part separately"
        )
    return latest - newest_ns


def load_spans(
    logs: CloudWatchLogsClient,
    path: str | Path,
    *,
    now_ns: int,
    log_group: str = DEFAULT_LOG_GROUP,
    stream: str = DEFAULT_STREAM,
) -> LoadReport:
    """Write FILE's records into `log_group`/`stream` (created when missing) with the `logs` client."""
    source = Path(path)
    if not source.is_file():
        raise ValidationError(f"--load-spans: {source} is not a file")
    report = LoadReport(source, log_group, stream)
    try:
        timed = read_records(source, report)
    except ValueError as exc:  # a UTF-16/32 file that does not decode
        raise ValidationError(f"--load-spans: {exc}") from exc
    if not timed:
        return report
    timed.sort(key=lambda pair: pair[0])
    report.oldest_ns, report.newest_ns = timed[0][0], timed[-1][0]
    report.shift_ns = plan_shift(report.oldest_ns, report.newest_ns, now_ns=now_ns)
    events: list[InputLogEventTypeDef] = []
    for time_ns, record in timed:
        if report.shift_ns:
            shift_record(record, report.shift_ns)
        name = service_name_of(record)
        if name:
            report.service_names.add(name)
        events.append(
            {
                "timestamp": (time_ns + report.shift_ns) // 1_000_000,
                "message": msgspec.json.encode(record).decode(),
            }
        )
    try:
        batches = log_batches(events)
    except ValueError as exc:  # a record over CloudWatch's 1 MB event limit: refuse the file, lose nothing
        raise ValidationError(f"--load-spans: {source}: {exc}") from exc
    ensure_log_stream(logs, log_group, stream)
    for batch in batches:
        response = logs.put_log_events(logGroupName=log_group, logStreamName=stream, logEvents=batch)
        rejected = response.get("rejectedLogEventsInfo")
        if rejected:  # CloudWatch keeps the rest and answers 200: never count those as written
            raise ValidationError(f"CloudWatch Logs rejected events of {source} in {log_group}: {rejected}")
        report.written += len(batch)
    return report
