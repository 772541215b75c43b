"""Compact, bounded transcripts for judges: never raw span JSON.

A judge sees user prompts, assistant responses and tool calls (name, arguments, status, result).
Long fields are cut with a visible marker `…[truncated 12,345 chars]`; when a whole context exceeds
its budget the oldest turns are dropped first with a marker saying how many, so the turn under
evaluation is always shown. Sizes are characters (≈4 per token).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from batcheval.traces.model import Session, ToolCall, Turn


@dataclass(frozen=True, slots=True)
class TranscriptLimits:
    tool_arguments_chars: int = 1_000
    tool_result_chars: int = 1_500
    message_chars: int = 4_000
    total_chars: int = 24_000
    """≈6k tokens: well under AgentCore's 200k-token per-evaluation cap, and cheap."""


DEFAULT_LIMITS = TranscriptLimits()


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters plus a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[truncated {len(text) - limit:,} chars]"


def render_tool_call(call: ToolCall, limits: TranscriptLimits = DEFAULT_LIMITS) -> str:
    args = truncate(call.arguments, limits.tool_arguments_chars) if call.arguments is not None else ""
    line = f"Tool call: {call.name}({args}) [status: {call.status}]"
    if call.error:
        line += f"\n  Error: {truncate(call.error, limits.tool_result_chars)}"
    if call.result is not None:
        line += f"\n  Result: {truncate(call.result, limits.tool_result_chars)}"
    return line


def render_turn(
    turn: Turn,
    number: int,
    limits: TranscriptLimits = DEFAULT_LIMITS,
    *,
    include_response: bool = True,
    tools_before: int | None = None,
) -> str:
    """One turn; `tools_before=k` shows only its first k tool calls (the context of call k)."""
    lines = [f"[Turn {number}]"]
    if turn.user_input is not None:
        lines.append(f"User: {truncate(turn.user_input, limits.message_chars)}")
    calls = turn.tool_calls if tools_before is None else turn.tool_calls[:tools_before]
    lines.extend(render_tool_call(call, limits) for call in calls)
    if include_response and turn.agent_response is not None:
        lines.append(f"Assistant: {truncate(turn.agent_response, limits.message_chars)}")
    return "\n".join(lines)


def _bounded(last: str, earlier: Callable[[int], str], count: int, limits: TranscriptLimits) -> str:
    """`last` preceded by as many of the `count` earlier blocks as fit, newest first.

    Earlier blocks are rendered on demand (`earlier(i)`, i < count) from the newest backwards and
    rendering stops at the budget, so the cost is bounded by the budget, not the session length.
    """
    if len(last) > limits.total_chars:
        text = truncate(last, limits.total_chars)
        return f"…[{count} earlier turn(s) omitted]\n\n{text}" if count else text
    kept = [last]
    used = len(last)
    index = count - 1
    while index >= 0:
        block = earlier(index)
        if used + len(block) + 2 > limits.total_chars:
            break
        kept.append(block)
        used += len(block) + 2
        index -= 1
    text = "\n\n".join(reversed(kept))
    dropped = index + 1
    return f"…[{dropped} earlier turn(s) omitted]\n\n{text}" if dropped else text


def render_session(session: Session, limits: TranscriptLimits = DEFAULT_LIMITS) -> str:
    """Every turn of the session (for SESSION-level judges), oldest dropped first if too long."""
    turns = session.turns
    if not turns:
        return "(the session has no turns)"
    last = render_turn(turns[-1], len(turns), limits)
    return _bounded(last, lambda i: render_turn(turns[i], i + 1, limits), len(turns) - 1, limits)


def render_context(
    session: Session,
    turn_index: int,
    limits: TranscriptLimits = DEFAULT_LIMITS,
    *,
    tools_before: int | None = None,
) -> str:
    """Previous turns in full, then the current turn's prompt and tool calls but not its response.

    With `tools_before=k`, only the current turn's tool calls made before call k are shown
    (the TOOL_CALL `{context}` as AgentCore documents it).
    """
    turns = session.turns
    current = render_turn(
        turns[turn_index], turn_index + 1, limits, include_response=False, tools_before=tools_before
    )
    return _bounded(current, lambda i: render_turn(turns[i], i + 1, limits), turn_index, limits)


def render_available_tools(turns: tuple[Turn, ...] | list[Turn]) -> str:
    names: list[str] = []
    for turn in turns:
        for name in turn.available_tools:
            if name not in names:
                names.append(name)
    return ", ".join(names) if names else "(not recorded in the trace)"


def render_trajectory(names: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(names) + "]" if names else "[] (no tool calls)"
