"""How `batcheval inspect` shows sessions: the documented JSON shape, or a table for debugging.

The table answers "what did the evaluator understand of my spans?": per session and turn the input
and response snippets, each tool call with its status and result (its error on the line under it),
each model call with its tokens; then the
per-session errors and the skipped records, each with a hint how to fix the instrumentation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from batcheval.traces.assemble import SkipCount
from batcheval.traces.model import Session, Turn, ns_to_datetime
from batcheval.traces.records import (
    LLO_REFERENCE,
    SKIP_DUPLICATE,
    SKIP_MALFORMED_EVENT,
    SKIP_MISSING_IDS,
    SKIP_MISSING_SCOPE,
    SKIP_MISSING_SESSION,
    SKIP_NOT_OBJECT,
    SKIP_NOT_OTEL,
    SKIP_ORPHAN_EVENT,
    SKIP_OVERSIZED,
    SKIP_TRANSPORT_PREFIX,
    SKIP_TRUNCATED,
    SKIP_UNKNOWN_PREFIX,
    SKIP_UNPARSABLE,
)
from batcheval.traces.scopes import NO_SPANS_TO_EVALUATE

HINTS: dict[str, str] = {
    SKIP_UNPARSABLE: "FILE must hold one JSON record per line, or filter-log-events JSON output.",
    SKIP_TRUNCATED: "The record was cut off; re-export it whole (older CloudWatch exports cut at 256 KB).",
    SKIP_OVERSIZED: "CloudWatch stores at most 1 MB per event; this line cannot be a stored record.",
    SKIP_NOT_OBJECT: "Each line must be one JSON object (a span document or event record).",
    SKIP_NOT_OTEL: "Export spans as CloudWatch stores them (aws/spans or the runtime's spans stream).",
    SKIP_MISSING_IDS: "Span documents and event records need traceId and spanId.",
    SKIP_MISSING_SCOPE: "Each span needs scope.name (the instrumentation library's name).",
    SKIP_MISSING_SESSION: (
        "Set the session.id span attribute (AgentCore Runtime does; elsewhere use OTel baggage "
        "session.id with a baggage span processor)."
    ),
    SKIP_DUPLICATE: "The same record was read twice; the copy was dropped.",
    SKIP_MALFORMED_EVENT: (
        "A span's events must be a list of objects whose attributes are an object; that event was left out."
    ),
    SKIP_ORPHAN_EVENT: "An event record's span is missing: include aws/spans alongside otel-rt-logs.",
    LLO_REFERENCE: "A field over 1 MB was moved to a Large Log Object; its content was left out.",
    SKIP_TRANSPORT_PREFIX: "HTTP/AWS SDK spans describe plumbing, not the agent; ignoring them is expected.",
    SKIP_UNKNOWN_PREFIX: (
        "Only Strands, opentelemetry.instrumentation.* and openinference.instrumentation.* scopes are read."
    ),
    NO_SPANS_TO_EVALUATE: (
        "Spans must describe agent/model/tool calls: gen_ai.operation.name (invoke_agent, chat, "
        "execute_tool) or openinference.span.kind (AGENT, CHAIN, LLM, TOOL)."
    ),
    "Provided input has no spans with supported scope": (
        "Instrument the agent with Strands, OpenInference or OpenTelemetry GenAI instrumentation."
    ),
    "Session span data is incomplete": (
        "In split mode the content is in event records: read the runtime log group's otel-rt-logs stream too."
    ),
}


def hint_for(reason: str) -> str | None:
    for prefix, hint in HINTS.items():
        if reason.startswith(prefix):
            return hint
    return None


def session_json(session: Session) -> dict[str, Any]:
    """One session in the shape `batcheval inspect --format json` documents."""
    return {
        "sessionId": session.session_id,
        "serviceName": session.service_name,
        "turns": [
            {
                "traceId": turn.trace_id,
                "userInput": turn.user_input,
                "agentResponse": turn.agent_response,
                "toolCalls": [
                    {
                        "name": c.name,
                        "toolCallId": c.tool_call_id,
                        "arguments": c.arguments,
                        "result": c.result,
                        "status": c.status,
                        "error": c.error,
                    }
                    for c in turn.tool_calls
                ],
                "modelCalls": [
                    {"model": m.model, "inputTokens": m.input_tokens, "outputTokens": m.output_tokens}
                    for m in turn.model_calls
                ],
            }
            for turn in session.turns
        ],
        "errors": list(session.errors),
    }


def inspect_json(sessions: Iterable[Session], skipped: Iterable[SkipCount]) -> dict[str, Any]:
    return {
        "sessions": [session_json(s) for s in sessions],
        "skipped": [{"reason": s.reason, "count": s.count} for s in skipped],
    }


def _iso(ns: int | None) -> str:
    if ns is None:
        return "?"
    try:
        return ns_to_datetime(ns).isoformat()
    except (OverflowError, ValueError, OSError):
        return f"{ns} ns"


def _snippet(text: str | None, width: int) -> str:
    if text is None:
        return "(not recorded)"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _duration(ms: float | None) -> str:
    if ms is None:
        return "?"
    return f"{ms / 1000:.2f}s" if ms >= 1000 else f"{ms:.0f}ms"


def _turn_lines(index: int, turn: Turn, width: int) -> list[str]:
    lines = [f"  turn {index}  trace {turn.trace_id}  span {turn.span_id}  {_duration(turn.latency_ms)}"]
    lines.append(f"    user   > {_snippet(turn.user_input, width)}")
    lines.append(f"    agent  < {_snippet(turn.agent_response, width)}")
    for call in turn.tool_calls:
        lines.append(
            f"    tool     {call.name:<20} {call.status:<8} {_duration(call.latency_ms):>7}  "
            f"args {_snippet(call.arguments, 40)}  → {_snippet(call.result, 40)}"
        )
        if call.error is not None:
            lines.append(f"             error: {_snippet(call.error, width)}")
    for model in turn.model_calls:
        tokens_in = "?" if model.input_tokens is None else f"{model.input_tokens:,}"
        tokens_out = "?" if model.output_tokens is None else f"{model.output_tokens:,}"
        lines.append(
            f"    model    {model.model or '(model not recorded)':<45} in {tokens_in:>7}  "
            f"out {tokens_out:>6}  {_duration(model.latency_ms):>7}"
        )
    lines.extend(f"    ! {error}" for error in turn.errors)
    return lines


def inspect_table(sessions: list[Session], skipped: list[SkipCount], *, width: int = 100) -> str:
    lines: list[str] = []
    for session in sessions:
        started = _iso(session.start_time_ns)
        lines.append(
            f"session {session.session_id}  service {session.service_name or '?'}  "
            f"{len(session.turns)} turn(s)  started {started}"
        )
        for index, turn in enumerate(session.turns, start=1):
            lines.extend(_turn_lines(index, turn, width))
        for error in session.errors:
            lines.append(f"  ERROR {error}")
            hint = hint_for(error)
            if hint:
                lines.append(f"        hint: {hint}")
        lines.append("")
    if skipped:
        lines.append("skipped records")
        for skip in skipped:
            lines.append(f"  {skip.count:>8}  {skip.reason}")
            hint = hint_for(skip.reason)
            if hint:
                lines.append(f"            hint: {hint}")
        lines.append("")
    turns = sum(len(s.turns) for s in sessions)
    calls = [c for s in sessions for c in s.tool_calls]
    failed_calls = sum(1 for c in calls if c.status == "error")
    with_failed_calls = sum(1 for s in sessions if any(c.status == "error" for c in s.tool_calls))
    with_errors = sum(1 for s in sessions if s.errors)
    # Two different things: tool calls the agent saw fail (data to evaluate) and sessions whose spans
    # could not be fully understood (instrumentation problems, the ERROR lines above).
    lines.append(
        f"{len(sessions)} session(s), {turns} turn(s), {len(calls)} tool call(s) "
        f"({failed_calls} failed, in {with_failed_calls} session(s)), "
        f"{with_errors} session(s) with span problems (ERROR lines), "
        f"{sum(s.count for s in skipped)} record(s) skipped"
    )
    return "\n".join(lines)
