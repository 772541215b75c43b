"""Small session builders for evaluator tests (the session model's dataclasses, nothing parsed)."""

from __future__ import annotations

from typing import Any

from batcheval.judges.base import JudgeRequest
from batcheval.judges.fake import ScriptedJudge
from batcheval.traces.model import ModelCall, Session, ToolCall, Turn


def trace_id(n: int) -> str:
    return f"{n:032x}"


def span_id(n: int) -> str:
    return f"{n:016x}"


def call(
    name: str, n: int, *, args: str = "{}", result: str | None = "ok", status: str = "success"
) -> ToolCall:
    return ToolCall(name=name, span_id=span_id(n), arguments=args, result=result, status=status)  # type: ignore[arg-type]


def turn(
    n: int,
    user: str | None = "question",
    response: str | None = "answer",
    *,
    tools: tuple[ToolCall, ...] = (),
    start_s: float | None = 0.0,
    end_s: float | None = 1.0,
    models: tuple[ModelCall, ...] = (),
    available: tuple[str, ...] = (),
) -> Turn:
    return Turn(
        trace_id=trace_id(n),
        span_id=span_id(1000 + n),
        user_input=user,
        agent_response=response,
        tool_calls=tools,
        model_calls=models,
        start_time_ns=None if start_s is None else int(start_s * 1e9),
        end_time_ns=None if end_s is None else int(end_s * 1e9),
        available_tools=available,
    )


def session(sid: str = "sess-1", *turns: Turn, spans: tuple[dict, ...] = ()) -> Session:
    return Session(session_id=sid, service_name="agent.DEFAULT", turns=turns, spans=spans)


def label_judge(label: str | None = None, explanation: str = "because", **kw: Any) -> ScriptedJudge:
    """A scripted judge answering `label` (or the first label of the offered scale) to every request."""

    def respond(request: JudgeRequest) -> dict[str, Any]:
        chosen = label if label is not None else request.output_schema["properties"]["label"]["enum"][0]
        return {"explanation": explanation, "label": chosen}

    return ScriptedJudge(responder=respond, **kw)
