"""The one path from raw log records to sessions: decode, de-duplicate, join, group, build turns.

Every source (a file, FilterLogEvents pages, Logs Insights rows, generated samples) feeds raw items
(dicts, or bytes/str lines) to `assemble`. Nothing raises on bad data: each dropped record is counted
under a reason (see `records.SKIP_*`), and a session with nothing evaluable carries the service's
per-session error instead of turns.

Determinism: the result does not depend on record order.
* duplicates (same traceId + spanId for span documents; same traceId + spanId + event name + time for
  event records) keep the richest copy, ties broken by the canonical JSON text;
* a trace belongs to the smallest `session.id` found on its spans (spans without one inherit it);
* sessions sort by (first activity, sessionId), turns by (start, traceId), tool and model calls by
  (start, spanId); "not recorded" times sort last.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec

from batcheval.errors import ErrorCounter
from batcheval.traces.content import (
    ToolResponse,
    as_json_text,
    error_text,
    message_text,
    role_of,
    tool_responses,
)
from batcheval.traces.model import ModelCall, Session, ToolCall, Turn
from batcheval.traces.records import (
    LLO_MARK,
    LLO_REFERENCE,
    MAX_RECORD_BYTES,
    SKIP_DUPLICATE,
    SKIP_MALFORMED_EVENT,
    SKIP_MISSING_IDS,
    SKIP_MISSING_SCOPE,
    SKIP_MISSING_SESSION,
    SKIP_NOT_OTEL,
    SKIP_ORPHAN_EVENT,
    SKIP_TRANSPORT_PREFIX,
    SKIP_UNKNOWN_PREFIX,
    Record,
    decode,
    has_llo_reference,
    nanos,
    record_decoder,
    record_kind,
    to_record,
)
from batcheval.traces.scopes import NO_SPANS_TO_EVALUATE, classify_scope, no_supported_scope_message
from batcheval.traces.spans import (
    SpanView,
    classify_role,
    last_user_text,
    operation_role,
    span_view,
    status_code,
)

NEVER = 1 << 62
"""Sort key for "not recorded" times: after every real timestamp."""

Item = bytes | str | dict[str, Any]

TOO_DEEP = "Session span data is malformed: a record nests values too deeply to read"


@dataclass(frozen=True, slots=True)
class SkipCount:
    """How many records were not used, and why."""

    reason: str
    count: int


@dataclass
class Assembly:
    """Sessions in time order plus what was skipped, by reason (most frequent first)."""

    sessions: list[Session]
    skipped: list[SkipCount] = field(default_factory=list)


class _GcPause:
    """The cyclic GC paused while any assembly runs, shared by every thread of the process.

    The GC's state is process-wide: if each assembly disabled and re-enabled it itself, one thread
    finishing would re-enable it under another still assembling (and freeze/unfreeze the other's
    half-built objects). So the first assembly to start pauses it and the last to finish restores
    it; in between no thread changes it. Nothing built here forms reference cycles, so pausing loses
    nothing (performance-limits.md §3: 2-4x faster; here ~2x with raw records kept).

    On the way out the survivors (the sessions) would all sit in the youngest generation, and
    re-enabling the collector would walk every one of them at once, then again in the middle
    generation. `gc.freeze()` + `gc.unfreeze()` moves them straight to the oldest generation in O(1).
    Unlike `gc.freeze()` alone, nothing stays frozen, so cyclic garbage alive now is still collected
    later (warm Lambdas, the local server). A process that froze objects itself keeps them frozen: then
    the move is skipped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._was_enabled = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    if gc.get_freeze_count() == 0:
                        gc.freeze()
                        gc.unfreeze()
                    if self._was_enabled:
                        gc.enable()


paused_gc = _GcPause()
"""`with paused_gc():` pauses the cyclic GC until the last concurrent assembly ends (`_GcPause`)."""


def session_order(session: Session) -> tuple[int, str]:
    """Sessions sort by first activity, then id; sessions without times last."""
    start = session.start_time_ns
    return (start if start is not None else NEVER, session.session_id)


def skip_counts(counter: ErrorCounter) -> list[SkipCount]:
    return [
        SkipCount(reason, n) for reason, n in sorted(counter.counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def assemble(
    items: Iterable[Item],
    *,
    keep_raw: bool = True,
    trace_filter: Mapping[str, Collection[str]] | None = None,
) -> Assembly:
    """Sessions from raw records. `keep_raw` keeps each session's records on `Session.spans`;
    `trace_filter` (sessionId → traceIds) keeps only those traces of the sessions it names."""
    counter = ErrorCounter()
    with paused_gc():
        sessions = _assemble(items, counter, keep_raw=keep_raw, trace_filter=trace_filter)
    return Assembly(sessions=sessions, skipped=skip_counts(counter))


def _key_part(value: Any) -> Any:
    """A hashable stand-in for a key field that malformed data may fill with a list or object."""
    return value if value is None or isinstance(value, str | int | float) else repr(value)


def _weight(record: Record, raw: dict[str, Any] | None) -> tuple[int, bytes]:
    """How much a copy of a record holds (attributes + events), ties broken by its canonical JSON."""
    if raw is None:
        size = len(record.attributes) + len(record.events)
        try:
            return size, msgspec.json.encode(record, order="sorted")
        except (TypeError, RecursionError):  # e.g. content nested beyond the encoder's depth limit
            return size, b""
    attrs = raw.get("attributes")
    events = raw.get("events")
    size = (len(attrs) if isinstance(attrs, dict) else 0) + (len(events) if isinstance(events, list) else 0)
    try:  # JSON's types and integers of any size; anything else (not from a JSON line) by its repr
        return size, msgspec.json.encode(raw, order="sorted", enc_hook=repr)
    except RecursionError:  # nesting deeper than Python's stack: ties keep the first copy read
        return size, b""


_Copy = tuple[Record, dict[str, Any] | None]
"""A decoded record and, when raw records are kept, the dict it was read from."""


def _richer(a: _Copy, b: _Copy) -> _Copy:
    """Of two copies of one record, the one with more content; ties by canonical JSON (order-free)."""
    return a if _weight(*a) >= _weight(*b) else b


def _read(
    item: Item, record: Record | None, counter: ErrorCounter, *, keep_raw: bool
) -> tuple[Record, str, dict[str, Any] | None] | None:
    """An item as (record, kind, its dict when `keep_raw`), or `None` when it is skipped (counted under
    its reason). `record` is the item already decoded by the fast path (never with `keep_raw`), if that
    worked; without an id it may still be a wrapped filter-log-events line, so it goes the slow way: a
    dict, then `to_record`."""
    if record is not None and record.traceId:
        kind = record.kind
        if kind is None:
            counter.add(SKIP_NOT_OTEL)
            return None
        if not record.spanId:
            counter.add(SKIP_MISSING_IDS)
            return None
        return record, kind, None
    decoded, reason = decode(item)
    if decoded is None:
        if reason is not None:
            counter.add(reason)
        return None
    kind = record_kind(decoded)
    if kind is None:
        counter.add(SKIP_NOT_OTEL)
        return None
    trace_id = decoded.get("traceId")
    span_id = decoded.get("spanId")
    if not trace_id or not span_id or type(trace_id) is not str or type(span_id) is not str:
        counter.add(SKIP_MISSING_IDS)
        return None
    if has_llo_reference(decoded):
        counter.add(LLO_REFERENCE)
    record, malformed = to_record(decoded)
    if malformed:
        counter.add(SKIP_MALFORMED_EVENT, malformed)
    return record, kind, decoded if keep_raw else None


def _assemble(
    items: Iterable[Item],
    counter: ErrorCounter,
    *,
    keep_raw: bool,
    trace_filter: Mapping[str, Collection[str]] | None,
) -> list[Session]:
    # One pass: de-duplicate per trace and learn each trace's session (the smallest session.id seen).
    trace_spans: dict[str, dict[str, _Copy]] = {}
    trace_events: dict[str, dict[tuple[str, Any, int | None], _Copy]] = {}
    trace_session: dict[str, str] = {}
    decode_line = record_decoder().decode
    unset = msgspec.UNSET
    for item in items:
        # Fast path, inlined for the common case (a line holding one well-formed span document).
        record: Record | None = None
        if (
            not keep_raw  # raw records are dicts anyway: decode once, to a dict, and convert that
            and type(item) is bytes
            and len(item) <= MAX_RECORD_BYTES
            and (b"@" not in item or LLO_MARK not in item)  # memchr first: 4x cheaper than the mark
        ):
            try:
                record = decode_line(item)
            except (msgspec.DecodeError, ValueError, RecursionError):
                # not JSON, the wrong types (ValidationError is a DecodeError), invalid UTF-8
                # (UnicodeDecodeError), too deep: `_read` works out why, or reads what it can
                record = None
        if record is not None and record.traceId and record.spanId and record.startTimeUnixNano is not unset:
            kind: str = "span"
            raw = None
        else:
            read = _read(item, record, counter, keep_raw=keep_raw)
            if read is None:
                continue
            record, kind, raw = read
        trace_id: str = record.traceId  # type: ignore[assignment]  # checked above or by `_read`
        span_id: str = record.spanId  # type: ignore[assignment]
        attrs = record.attributes
        if kind == "span":
            by_span = trace_spans.get(trace_id)
            if by_span is None:
                by_span = trace_spans[trace_id] = {}
            copy: _Copy = (record, raw)
            previous = by_span.get(span_id)
            if previous is not None:
                counter.add(SKIP_DUPLICATE)
                copy = _richer(previous, copy)
            by_span[span_id] = copy
            session_id = attrs.get("session.id")
            if session_id and type(session_id) is str:
                known = trace_session.get(trace_id)
                if known is None or session_id < known:
                    trace_session[trace_id] = session_id
        else:
            event_name = attrs.get("event.name")
            event_key = (
                span_id,
                event_name if event_name is None or type(event_name) is str else _key_part(event_name),
                nanos(record.timeUnixNano),
            )
            by_event = trace_events.get(trace_id)
            if by_event is None:
                by_event = trace_events[trace_id] = {}
            copy = (record, raw)
            previous = by_event.get(event_key)
            if previous is not None:
                counter.add(SKIP_DUPLICATE)
                copy = _richer(previous, copy)
            by_event[event_key] = copy
    for trace_id, by_event in trace_events.items():
        if trace_id not in trace_spans:
            counter.add(SKIP_ORPHAN_EVENT, len(by_event))

    session_traces: dict[str, list[str]] = {}
    for trace_id, by_span in trace_spans.items():
        session_id = trace_session.get(trace_id)
        if session_id is None:
            counter.add(SKIP_MISSING_SESSION, len(by_span) + len(trace_events.get(trace_id, ())))
            continue
        allowed = trace_filter.get(session_id) if trace_filter is not None else None
        if allowed is not None and trace_id not in allowed:
            continue
        session_traces.setdefault(session_id, []).append(trace_id)

    scope_classes: dict[str, str] = {}  # scope name → class, learnt once per call
    sessions = []
    for session_id, trace_ids in session_traces.items():
        try:
            session = _build_session(
                session_id, trace_ids, trace_spans, trace_events, counter, scope_classes, keep_raw=keep_raw
            )
        except RecursionError:  # content nested ~1,000 levels deep (JSON allows 1,024): one bad session
            session = Session(session_id=session_id, service_name=None, errors=(TOO_DEEP,))
        sessions.append(session)
    sessions.sort(key=session_order)
    return sessions


def _build_session(
    session_id: str,
    trace_ids: list[str],
    trace_spans: dict[str, dict[str, _Copy]],
    trace_events: dict[str, dict[tuple[str, Any, int | None], _Copy]],
    counter: ErrorCounter,
    scope_classes: dict[str, str],
    *,
    keep_raw: bool,
) -> Session:
    turns: list[Turn] = []
    errors: list[str] = []
    any_supported = False
    roots: dict[str, Record] = {}
    incomplete_by_trace: dict[str, str] = {}
    service_name: str | None = None
    raw: list[dict[str, Any]] = []
    for trace_id in trace_ids:
        agents: list[SpanView] = []
        chains: list[SpanView] = []
        tools: list[SpanView] = []
        llms: list[SpanView] = []
        failed: list[tuple[int, str, str]] = []  # errors of supported spans that play no role in the turn
        span_copies = trace_spans[trace_id]
        for span_id, (record, _) in span_copies.items():
            scope = record.scope
            scope_name = scope.name if scope is not None else None
            if not scope_name:
                counter.add(SKIP_MISSING_SCOPE)
                continue
            scope_class = scope_classes.get(scope_name)
            if scope_class is None:
                scope_class = scope_classes[scope_name] = classify_scope(scope_name)
            if scope_class != "supported":
                prefix = SKIP_TRANSPORT_PREFIX if scope_class == "transport" else SKIP_UNKNOWN_PREFIX
                counter.add(f"{prefix} '{scope_name}'")
                continue
            operation = record.attributes.get("gen_ai.operation.name")  # most spans: one lookup decides
            role = (operation_role(operation) if type(operation) is str else None) or classify_role(
                record.attributes, record.name
            )
            if role == "agent":
                agents.append(span_view(record, span_id, scope_name, role))
            elif role == "llm":
                llms.append(span_view(record, span_id, scope_name, role))
            elif role == "tool":
                tools.append(span_view(record, span_id, scope_name, role))
            elif role == "chain":
                chains.append(span_view(record, span_id, scope_name, role))
            else:
                any_supported = True
                if status_code(record) == "ERROR":
                    view = span_view(record, span_id, scope_name, role)
                    failed.append(
                        (view.start_ns or NEVER, view.span_id, f"{view.name}: {view.error_message()}")
                    )
        by_event = trace_events.get(trace_id)
        if by_event:
            joinable = {view.span_id: view for group in (agents, chains, tools, llms) for view in group}
            for event_record, _ in sorted(by_event.values(), key=_event_order):
                joined = joinable.get(event_record.spanId)  # type: ignore[arg-type]
                if joined is not None:
                    joined.event_records.append(event_record)
        if keep_raw:
            raw.extend(copy[1] for copy in span_copies.values())  # type: ignore[misc]
            if by_event:
                raw.extend(copy[1] for copy in by_event.values())  # type: ignore[misc]
        if not (agents or chains or tools or llms):
            continue
        any_supported = True
        turn, root, incomplete = _build_turn(trace_id, agents, chains, tools, llms, failed)
        turns.append(turn)
        if incomplete is not None:
            incomplete_by_trace[trace_id] = incomplete
        roots[trace_id] = root
    if not any_supported:
        errors.insert(0, no_supported_scope_message())
    elif not turns:
        errors.insert(0, NO_SPANS_TO_EVALUATE)
    turns.sort(key=lambda t: (t.start_time_ns if t.start_time_ns is not None else NEVER, t.trace_id))
    errors.extend(incomplete_by_trace[t.trace_id] for t in turns if t.trace_id in incomplete_by_trace)
    if turns:  # the service of the first turn's agent, so the choice never depends on record order
        service_name = roots[turns[0].trace_id].service_name
    if service_name is None:
        names = {
            name for t in trace_ids for record, _ in trace_spans[t].values() if (name := record.service_name)
        }
        service_name = min(names) if names else None
    if keep_raw:
        raw.sort(key=_raw_sort_key)
    return Session(
        session_id=session_id,
        service_name=service_name,
        turns=tuple(turns),
        errors=tuple(errors),
        spans=tuple(raw),
    )


def _event_order(copy: _Copy) -> tuple[int, str, str]:
    """Event records of one span in time order (then by name), whatever order they were read in."""
    record = copy[0]
    time = nanos(record.timeUnixNano)
    return (NEVER if time is None else time, record.spanId, repr(record.attributes.get("event.name")))  # type: ignore[return-value]


def _raw_sort_key(record: dict[str, Any]) -> tuple[int, int, str, str, str]:
    """Span documents by start, then event records by time; ties by ids (and event name)."""
    if "startTimeUnixNano" in record:
        start = record["startTimeUnixNano"]
        return (0, start if type(start) is int else _time_key(start), record["traceId"], record["spanId"], "")
    attrs = record.get("attributes")
    name = attrs.get("event.name") if isinstance(attrs, dict) else None
    time = record.get("timeUnixNano")
    return (
        1,
        time if type(time) is int else _time_key(time),
        record["traceId"],
        record["spanId"],
        repr(name),
    )


def _time_key(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return NEVER


def _by_start(view: SpanView) -> tuple[int, str]:
    return (view.start_ns if view.start_ns is not None else NEVER, view.span_id)


def _build_turn(
    trace_id: str,
    agents: list[SpanView],
    chains: list[SpanView],
    tools: list[SpanView],
    llms: list[SpanView],
    failed: list[tuple[int, str, str]],
) -> tuple[Turn, Record, str | None]:
    """One turn from a trace's agent, chain, tool and model spans (at least one); also its root's
    record and, when the root has neither input nor output, the service's "incomplete" error."""
    if len(tools) > 1:
        tools.sort(key=_by_start)
    if len(llms) > 1:
        llms.sort(key=_by_start)
    # The turn's root: the outermost (earliest-starting) agent or chain span (an agent wins a tie),
    # else the earliest tool/model span. LangGraph's root is a CHAIN wrapping AGENT node spans.
    if len(agents) == 1 and not chains:
        root = agents[0]
    elif agents or chains:
        root = min(agents + chains, key=lambda v: (*_by_start(v), v.role != "agent"))
    else:
        root = min(tools + llms, key=_by_start)
    is_agent_root = root.role == "agent" or root.role == "chain"
    first_llm = llms[0] if llms else None

    user_input = root.user_input() if is_agent_root else None
    if user_input is None and first_llm is not None:
        user_input = last_user_text(first_llm.input_messages())
    agent_response = root.agent_response() if is_agent_root else None
    if agent_response is None and llms:
        agent_response = _last_assistant_text(llms[-1].output_messages())
    system_prompt = root.system_prompt() if is_agent_root else None
    if system_prompt is None and first_llm is not None:
        system_prompt = first_llm.system_prompt()
    available_tools = root.available_tools()
    if not available_tools and first_llm is not None:
        available_tools = first_llm.available_tools()

    for group in (agents, chains, tools, llms):
        for view in group:
            if view.status_code == "ERROR":
                failed.append(
                    (
                        view.start_ns or NEVER,
                        view.span_id,
                        f"{view.name or view.span_id}: {view.error_message()}",
                    )
                )
    errors = tuple(message for *_, message in sorted(failed)) if failed else ()
    if is_agent_root:
        start_ns, end_ns = root.start_ns, root.end_ns
    else:
        every = (*agents, *chains, *tools, *llms)
        starts = [v.start_ns for v in every if v.start_ns is not None]
        ends = [v.end_ns for v in every if v.end_ns is not None]
        start_ns = min(starts) if starts else None
        end_ns = max(ends) if ends else None

    turn = Turn(
        trace_id=trace_id,
        span_id=root.span_id,
        user_input=user_input,
        agent_response=agent_response,
        system_prompt=system_prompt,
        tool_calls=_tool_calls(tools, llms) if tools else (),
        model_calls=tuple(
            [
                ModelCall(
                    view.span_id,
                    view.model(),
                    view.input_tokens(),
                    view.output_tokens(),
                    view.start_ns,
                    view.end_ns,
                )
                for view in llms
            ]
        ),
        errors=errors,
        start_time_ns=start_ns,
        end_time_ns=end_ns,
        available_tools=available_tools,
    )
    incomplete = None
    if user_input is None and agent_response is None:
        incomplete = (
            f"Session span data is incomplete. Span with ID {root.span_id} and name {root.name!r} has no "
            "input or output messages (split mode: include the event records from the runtime log "
            "group's otel-rt-logs stream)"
        )
    return turn, root.record, incomplete


def _tool_calls(tools: list[SpanView], llms: list[SpanView]) -> tuple[ToolCall, ...]:
    """Tool spans as calls, each field read on the tool span first, then completed from the turn's
    model calls by tool-call id:

    * LangChain instrumentations record a tool's input loosely (the bare value, or a wrapper with
      `input_str`, tags and metadata), so the arguments the model requested win for them;
    * a tool span without a tool-call id (OpenInference's and OpenLLMetry's OpenAI Agents spans)
      takes the id of the first unclaimed requested call of the same tool, in order;
    * a result, arguments or error the tool span lacks is read from the matching tool response
      (`tool_call_response` part, tool message, toolResult block) in the model calls' inputs.
    """
    own_ids = [view.tool_call_id() for view in tools]
    requested: list[tuple[str, str, str]] = []
    if llms and (
        None in own_ids
        or any(view.scope.startswith("openinference.") or view.scope.endswith("langchain") for view in tools)
    ):
        for llm in llms:
            requested.extend(llm.requested_tool_calls())
    by_id = {call_id: (name, arguments) for call_id, name, arguments in requested}
    claimed = {call_id for call_id in own_ids if call_id is not None}
    responses: dict[str, ToolResponse] | None = None  # built on first need: most spans carry it all
    calls: list[ToolCall] = []
    for view, call_id in zip(tools, own_ids, strict=True):
        name = view.tool_name()
        arguments = view.tool_arguments()
        if call_id is None:
            call_id = next((i for i, n, _ in requested if n == name and i not in claimed), None)
            if call_id is not None:
                claimed.add(call_id)
        if call_id in by_id and (arguments is None or view.scope.endswith("langchain")):
            arguments = by_id[call_id][1]
        result, error_response = view.tool_output()
        if result is None and call_id is not None and llms:
            if responses is None:
                responses = _tool_responses(llms)
            response = responses.get(call_id)
            if response is not None:
                result, error_response = as_json_text(response.content), response.is_error
        status = view.tool_status(result, error_response)
        error = None
        if status == "error":  # the span's own words, else the error-shaped (or only) response
            error = view.recorded_error() or (error_text(result) if result is not None else None)
        calls.append(
            ToolCall(
                name,
                view.span_id,
                arguments,
                result,
                status,
                error,
                call_id,
                view.start_ns,
                view.end_ns,
            )
        )
    return tuple(calls)


def _tool_responses(llms: list[SpanView]) -> dict[str, ToolResponse]:
    """Tool responses by tool-call id from the model calls' input messages (the first seen wins: every
    later model call repeats the history)."""
    found: dict[str, ToolResponse] = {}
    for llm in llms:
        for message in llm.input_messages():
            for response in tool_responses(message):
                if response.call_id is not None and response.call_id not in found:
                    found[response.call_id] = response
    return found


def _last_assistant_text(messages: list[Any]) -> str | None:
    for message in reversed(messages):
        role = role_of(message) or "assistant"
        if role == "assistant":
            text = message_text(message)
            if text:
                return text
    return None
