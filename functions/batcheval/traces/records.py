"""Decoding raw log lines into span documents and event records, with a reason for everything dropped.

CloudWatch stores two kinds of OpenTelemetry records (reference §2.4):

* span documents (`aws/spans`, or the `spans` stream of a unified runtime log group): they have
  `startTimeUnixNano`;
* event records (OTel log records, the `otel-rt-logs` stream in split mode): they have `body` or
  `timeUnixNano` and are joined to their span by `traceId` + `spanId`.

Lines may also arrive wrapped the way `aws logs filter-log-events` prints them (`{"message": "..."}`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import orjson

RecordKind = Literal["span", "event"]

MAX_RECORD_BYTES = 1_048_576
"""CloudWatch's log event size limit: a longer line cannot be a record CloudWatch stored intact."""

# Skip reasons: stable strings, shown to users by `batcheval inspect` and counted in reports.
SKIP_UNPARSABLE = "unparsable line (not JSON)"
SKIP_TRUNCATED = "truncated record (JSON cut off)"
SKIP_OVERSIZED = "oversized record (over 1 MB)"
SKIP_NOT_OBJECT = "not a JSON object"
SKIP_NOT_OTEL = "not a span document or event record"
SKIP_MISSING_IDS = "missing traceId or spanId"
SKIP_MISSING_SCOPE = "missing scope.name"
SKIP_MISSING_SESSION = "missing session.id (no span of its trace has one)"
SKIP_DUPLICATE = "duplicate record dropped"
SKIP_ORPHAN_EVENT = "event record without a matching span"
SKIP_MALFORMED_EVENT = "malformed inline span event (event or its attributes not a JSON object)"
LLO_REFERENCE = "large log object reference (field truncated by CloudWatch; not fetched)"
SKIP_TRANSPORT_PREFIX = "ignored transport scope"
SKIP_UNKNOWN_PREFIX = "unsupported scope"


def record_kind(record: dict[str, Any]) -> RecordKind | None:
    """Tell a span document from an event record by the fields only that kind has."""
    if "startTimeUnixNano" in record:
        return "span"
    if "body" in record or "timeUnixNano" in record or "observedTimeUnixNano" in record:
        return "event"
    if "spanId" in record and "name" in record and "endTimeUnixNano" in record:
        return "span"
    return None


def service_name_of(record: dict[str, Any]) -> str | None:
    """The record's `resource.attributes["service.name"]`, `None` when absent or malformed."""
    resource = record.get("resource")
    attrs = resource.get("attributes") if isinstance(resource, dict) else None
    name = attrs.get("service.name") if isinstance(attrs, dict) else None
    return name if isinstance(name, str) else None


KNOWN_KEYS = frozenset(
    {
        "resource", "scope", "traceId", "spanId", "parentSpanId", "flags", "name", "kind",
        "startTimeUnixNano", "endTimeUnixNano", "durationNano", "attributes", "status", "events",
        "links", "traceState", "droppedAttributesCount", "droppedEventsCount", "droppedLinksCount",
        "timeUnixNano", "observedTimeUnixNano", "severityNumber", "severityText", "body",
    }
)  # fmt: skip


def has_llo_reference(record: dict[str, Any]) -> bool:
    """CloudWatch adds `@ptr.$[...]` keys when it moved an over-1 MB field into a Large Log Object."""
    if KNOWN_KEYS.issuperset(record):  # C-level check, true for almost every record
        return False
    return any(key.startswith("@ptr") for key in record)


def decode(item: bytes | str | dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """One raw item → (record, None) or (None, skip reason); blank lines give (None, None)."""
    if isinstance(item, dict):
        value: Any = item
    else:
        if len(item) > MAX_RECORD_BYTES:
            item = item.strip()
            if len(item) > MAX_RECORD_BYTES:
                return None, SKIP_OVERSIZED
        try:
            value = orjson.loads(item)
        except orjson.JSONDecodeError:
            unmarked = without_bom(item)  # the first line of a file saved with a UTF-8 BOM
            return _bad_line(item) if unmarked is item else decode(unmarked)
    if type(value) is not dict:
        return None, SKIP_NOT_OBJECT
    if "traceId" not in value:
        message = value.get("message")
        if isinstance(message, str):
            # An event as `aws logs filter-log-events` / GetLogEvents print it: the record is the message.
            return decode(message)
    return value, None


_BOM_BYTES = b"\xef\xbb\xbf"
_BOM_TEXT = "\ufeff"


def without_bom(item: bytes | str) -> bytes | str:
    """The item without its leading UTF-8 byte-order mark; the item itself when it has none."""
    if isinstance(item, bytes):
        return item[3:] if item.startswith(_BOM_BYTES) else item
    return item[1:] if item.startswith(_BOM_TEXT) else item


def _bad_line(item: bytes | str) -> tuple[None, str | None]:
    """Why a line that failed to parse failed: blank (no reason), cut off, or not JSON."""
    raw = (item.encode() if isinstance(item, str) else item).strip()
    if not raw:
        return None, None
    if raw[:1] == b"{" and raw[-1:] != b"}":
        return None, SKIP_TRUNCATED
    return None, SKIP_UNPARSABLE


def iter_file_items(data: bytes) -> Iterator[bytes | dict[str, Any]]:
    """Items of a file (UTF-8, with or without a byte-order mark): JSON Lines, one JSON array of
    records, or filter-log-events output."""
    data = data.removeprefix(_BOM_BYTES)
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            whole = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            whole = None  # JSON Lines (or damaged): fall through to line by line.
        if isinstance(whole, dict) and isinstance(whole.get("events"), list):
            yield from whole["events"]
            return
        if isinstance(whole, list):
            yield from whole
            return
        if isinstance(whole, dict):
            yield whole
            return
    yield from data.splitlines()
