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
from functools import cache
from typing import Annotated, Any, Literal

import msgspec

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
            value = msgspec.json.decode(item)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
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
            whole = msgspec.json.decode(stripped)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
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


# --- typed records ------------------------------------------------------------------------------------
#
# Assembly reads records through these types. msgspec decodes a well-formed line straight into them in
# C, checking every type on the way and skipping the fields nothing reads (3-4x less decoding and
# freeing than building every dict). A record that does not fit (a malformed field, a wrapped
# filter-log-events line, a Large Log Object reference, a dict item) goes the slow way instead: decode
# to a dict, then `to_record` turns it into the same types, dropping what is malformed. Either way,
# code downstream sees one shape and never re-checks types.

MAX_NANOS = 1 << 63
Nanos = Annotated[int, msgspec.Meta(ge=0, le=MAX_NANOS - 1)]
"""Epoch nanoseconds: anything else (negative, beyond 64 bits, text) is malformed data."""


class Scope(msgspec.Struct, gc=False):
    name: str | None = None


class ResourceAttributes(msgspec.Struct, gc=False):
    service_name: str | None = msgspec.field(default=None, name="service.name")


class Resource(msgspec.Struct, gc=False):
    attributes: ResourceAttributes | None = None


class Status(msgspec.Struct, gc=False):
    code: str | int | None = None
    message: Any = None


class InlineEvent(msgspec.Struct, gc=False):
    """An event inside a span document (unified mode)."""

    name: Any = None
    attributes: dict[str, Any] = {}


class Record(msgspec.Struct, gc=False):
    """A span document or an event record; which one is told by the fields present (`kind`).

    Fields whose *presence* tells the kind default to UNSET; read times through `nanos`.
    """

    traceId: str | None = None
    spanId: str | msgspec.UnsetType | None = msgspec.UNSET
    name: str | msgspec.UnsetType | None = msgspec.UNSET
    startTimeUnixNano: Nanos | msgspec.UnsetType | None = msgspec.UNSET
    endTimeUnixNano: Nanos | msgspec.UnsetType | None = msgspec.UNSET
    timeUnixNano: Nanos | msgspec.UnsetType | None = msgspec.UNSET
    observedTimeUnixNano: Any = msgspec.UNSET
    body: Any = msgspec.UNSET
    scope: Scope | None = None
    resource: Resource | None = None
    attributes: dict[str, Any] = {}
    status: Status | None = None
    events: list[InlineEvent] = []

    @property
    def kind(self) -> RecordKind | None:
        """`record_kind` of the record this was decoded from."""
        if self.startTimeUnixNano is not msgspec.UNSET:
            return "span"
        if (
            self.body is not msgspec.UNSET
            or self.timeUnixNano is not msgspec.UNSET
            or self.observedTimeUnixNano is not msgspec.UNSET
        ):
            return "event"
        if (
            self.spanId is not msgspec.UNSET
            and self.name is not msgspec.UNSET
            and self.endTimeUnixNano is not msgspec.UNSET
        ):
            return "span"
        return None

    @property
    def service_name(self) -> str | None:
        resource = self.resource
        attributes = resource.attributes if resource is not None else None
        return attributes.service_name if attributes is not None else None


def nanos(value: int | msgspec.UnsetType | None) -> int | None:
    """A time field of a `Record` as an int, `None` when not recorded."""
    return value if type(value) is int else None


LLO_MARK = b'"@ptr'
"""Bytes every Large Log Object reference key starts with (`"@ptr.$[...]"`): such lines take the slow path."""


@cache
def record_decoder() -> msgspec.json.Decoder[Record]:
    """The JSON decoder straight into `Record` (built once, on first use)."""
    return msgspec.json.Decoder(Record)


def to_record(record: dict[str, Any]) -> tuple[Record, int]:
    """A decoded record dict as a `Record`, plus how many malformed inline events were dropped.

    Malformed fields read as "not recorded": times that are not non-negative 64-bit integers (numeric
    text is read as the number), names, scopes, statuses and service names of the wrong type, and
    attributes that are not an object. Inline events that are not an object, or whose attributes are
    not an object, are dropped and counted (the caller reports them as skipped).
    """
    try:
        return msgspec.convert(record, Record), 0
    except (msgspec.ValidationError, RecursionError):
        pass
    fields: dict[str, Any] = {}
    trace_id = record.get("traceId")
    fields["traceId"] = trace_id if isinstance(trace_id, str) else None
    if "spanId" in record:
        span_id = record["spanId"]
        fields["spanId"] = span_id if isinstance(span_id, str) else None
    name = record.get("name", msgspec.UNSET)
    fields["name"] = name if name is msgspec.UNSET or isinstance(name, str) else None
    for key in ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano"):
        if key in record:
            fields[key] = as_nanos(record[key])
    for key in ("observedTimeUnixNano", "body"):
        if key in record:
            fields[key] = record[key]
    scope = record.get("scope")
    scope_name = scope.get("name") if isinstance(scope, dict) else None
    fields["scope"] = Scope(scope_name if isinstance(scope_name, str) else None)
    fields["resource"] = Resource(ResourceAttributes(service_name_of(record)))
    attributes = record.get("attributes")
    fields["attributes"] = attributes if isinstance(attributes, dict) else {}
    status = record.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    fields["status"] = (
        Status(
            code if isinstance(code, str | int) and not isinstance(code, bool) else None,
            status.get("message"),
        )
        if isinstance(status, dict)
        else None
    )
    events, malformed = _inline_events(record.get("events"))
    fields["events"] = events
    return Record(**fields), malformed


def _inline_events(events: Any) -> tuple[list[InlineEvent], int]:
    if events is None:
        return [], 0
    if not isinstance(events, list):
        return [], 1
    kept: list[InlineEvent] = []
    malformed = 0
    for event in events:
        if not isinstance(event, dict):
            malformed += 1
            continue
        attributes = event.get("attributes")
        if attributes is None:
            attributes = {}
        elif not isinstance(attributes, dict):
            malformed += 1
            continue
        kept.append(InlineEvent(event.get("name"), attributes))
    return kept, malformed


def as_nanos(value: Any) -> int | None:
    """A non-negative 64-bit integer (epoch ns, token count), else `None`: negative or absurd values
    are malformed data, not measurements. Numeric text is read as its number."""
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, int):
        try:
            value = int(value)
        except (TypeError, ValueError, OverflowError):
            try:
                value = int(float(value))
            except (TypeError, ValueError, OverflowError):
                return None
    return value if 0 <= value < MAX_NANOS else None
