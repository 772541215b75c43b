"""Realistic, deterministic sample agent sessions, as CloudWatch stores their spans.

`generate(n_sessions, seed)` scripts multi-turn conversations (tool calls, tool errors followed by a
retry, token usage) and renders them the way each instrumentation writes them:

* `strands`       — `strands.telemetry.tracer`: invoke_agent → execute_event_loop_cycle → chat /
                    execute_tool; content in inline `gen_ai.*` span events (unified) or in event
                    records with `body.input/output.messages` (split);
* `langgraph`     — `openinference.instrumentation.langchain`: CHAIN/LLM/TOOL spans with
                    `input.value`/`output.value`, `llm.input_messages.*`, `llm.token_count.*`;
* `langchain`     — `opentelemetry.instrumentation.langchain` (traceloop): `traceloop.span.kind`,
                    `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`, `traceloop.entity.*`;
* `openai_agents` — `opentelemetry.instrumentation.openai_agents`: `gen_ai.operation.name` with
                    `gen_ai.input.messages` / `gen_ai.output.messages` attributes.

Split mode moves the content out of the spans into event records as ADOT does: Strands' inline
events, and the content attributes of the other instrumentations. Everything random comes from
`random.Random(seed)`: same arguments, same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

Mode = Literal["unified", "split"]
FRAMEWORKS: tuple[str, ...] = ("strands", "langgraph", "langchain", "openai_agents")
DEFAULT_START_NS = 1_795_132_800_000_000_000
"""2026-11-20T00:00:00Z: a fixed epoch so generated data never depends on the clock."""

_SCOPES = {
    "strands": "strands.telemetry.tracer",
    "langgraph": "openinference.instrumentation.langchain",
    "langchain": "opentelemetry.instrumentation.langchain",
    "openai_agents": "opentelemetry.instrumentation.openai_agents",
}
_MODELS = ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "us.amazon.nova-lite-v1:0", "gpt-4o-mini")


@dataclass(frozen=True)
class _Persona:
    agent: str
    system_prompt: str
    tools: tuple[str, ...]
    prompts: tuple[str, ...]


_PERSONAS = (
    _Persona(
        "TravelAgent",
        "You are a travel assistant. Use tools to find flights and hotels; never invent prices.",
        ("search_flights", "book_hotel", "get_weather"),
        (
            "Find me a flight from Seattle to New York next Friday.",
            "What's the weather in Lisbon this weekend?",
            "Book a hotel near the Louvre for two nights.",
            "Is there a cheaper flight on Saturday?",
        ),
    ),
    _Persona(
        "SupportAgent",
        "You are a customer support agent for an online shop. Be concise and polite.",
        ("lookup_order", "refund_order", "check_inventory"),
        (
            "Where is my order 81723?",
            "I want a refund for the broken kettle.",
            "Do you have the blue jacket in size M?",
            "Can you change my delivery address?",
        ),
    ),
    _Persona(
        "ResearchAgent",
        "You are a research assistant. Cite the documents you used.",
        ("web_search", "fetch_page", "calculator"),
        (
            "Summarise the latest results on solid-state batteries.",
            "How much is 17% of 2,340?",
            "Compare two papers on retrieval-augmented generation.",
            "What is the population of Porto?",
        ),
    ),
)


@dataclass
class _ToolStep:
    name: str
    call_id: str
    arguments: dict[str, Any]
    result: str
    error: str | None


@dataclass
class _TurnScript:
    prompt: str
    response: str
    cycles: list[list[_ToolStep]]
    """Tool calls requested by each model call; the last model call answers (no tools)."""
    usage: list[tuple[int, int]]


@dataclass
class SampleSet:
    """Generated records (span documents + event records) and ground truth, one entry per session."""

    records: list[dict[str, Any]]
    session_ids: list[str]
    ground_truth: list[dict[str, Any]] = field(default_factory=list)
    """StartBatchEvaluation `evaluationMetadata.sessionMetadata` entries (empty unless requested)."""
    service_name: str = ""
    mode: Mode = "unified"

    def jsonl(self) -> bytes:
        return msgspec.json.Encoder().encode_lines(self.records)


def generate(
    n_sessions: int,
    seed: int,
    *,
    service_name: str = "TravelAgent.DEFAULT",
    mode: Mode = "unified",
    frameworks: Sequence[str] = ("strands",),
    ground_truth: bool = False,
    start_time_ns: int = DEFAULT_START_NS,
    window_s: float = 3600.0,
    max_turns: int = 3,
    tool_error_rate: float = 0.15,
) -> SampleSet:
    """`n_sessions` sessions starting within `window_s` seconds after `start_time_ns`.

    Frameworks are assigned round-robin. Records are ordered by export time (span end), interleaving
    sessions as CloudWatch receives them.
    """
    unknown = [f for f in frameworks if f not in _SCOPES]
    if unknown or not frameworks:
        raise ValueError(f"unknown frameworks {unknown}; choose from {list(FRAMEWORKS)}")
    if mode not in ("unified", "split"):
        raise ValueError(f"mode must be 'unified' or 'split', not {mode!r}")
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    session_ids: list[str] = []
    truths: list[dict[str, Any]] = []
    resource = {"attributes": {"service.name": service_name, "aws.service.type": "gen_ai_agent"}}
    for index in range(n_sessions):
        framework = frameworks[index % len(frameworks)]
        persona = _PERSONAS[rng.randrange(len(_PERSONAS))]
        session_id = _uuid(rng)
        session_ids.append(session_id)
        clock = start_time_ns + int(rng.random() * window_s * 1e9)
        scripts = [_script_turn(rng, persona, tool_error_rate) for _ in range(rng.randint(1, max_turns))]
        renderer = _Renderer(rng, resource, _SCOPES[framework], persona, session_id, mode)
        for script in scripts:
            clock = getattr(renderer, framework)(script, clock) + int(rng.uniform(2, 30) * 1e9)
        records.extend(renderer.records)
        if ground_truth:
            truths.append(_ground_truth(session_id, index, scripts))
    records.sort(key=_export_time)
    return SampleSet(records, session_ids, truths, service_name, mode)


def _attribute_order(key: str) -> tuple[str, int, str]:
    """`llm.input_messages.10.message.content` after `...9...`: messages keep their order."""
    head, _, rest = key.partition("_messages.") if "_messages." in key else key.partition("prompt.")
    index, _, tail = rest.partition(".")
    return (head, int(index) if index.isdigit() else -1, tail)


def _export_time(record: dict[str, Any]) -> tuple[int, str, str]:
    time = record.get("endTimeUnixNano") or record.get("timeUnixNano") or 0
    return (int(time), record["traceId"], record["spanId"])


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _ground_truth(session_id: str, index: int, scripts: list[_TurnScript]) -> dict[str, Any]:
    tool_names = [
        step.name for script in scripts for cycle in script.cycles for step in cycle if not step.error
    ]
    return {
        "sessionId": session_id,
        "testScenarioId": f"scenario-{index:05d}",
        "groundTruth": {
            "inline": {
                "assertions": [
                    {"text": "The agent answers every request using its tools, without inventing facts."}
                ],
                "expectedTrajectory": {"toolNames": tool_names},
                "turns": [
                    {"input": {"prompt": script.prompt}, "expectedResponse": {"text": script.response}}
                    for script in scripts
                ],
            }
        },
    }


def _script_turn(rng: random.Random, persona: _Persona, tool_error_rate: float) -> _TurnScript:
    prompt = rng.choice(persona.prompts)
    cycles: list[list[_ToolStep]] = []
    for _ in range(rng.choice((0, 1, 1, 2))):
        name = rng.choice(persona.tools)
        arguments = {"query": prompt[:40], "limit": rng.randint(1, 5)}
        if rng.random() < tool_error_rate:
            failed = _ToolStep(
                name, f"tooluse_{rng.getrandbits(64):016x}", arguments, "", "Service unavailable (503)"
            )
            cycles.append([failed])  # the model sees the error and retries the same tool
        result = msgspec.json.encode(
            {"status": "ok", "items": [f"{name} result {rng.randint(1, 999)}"]}
        ).decode()
        cycles.append([_ToolStep(name, f"tooluse_{rng.getrandbits(64):016x}", arguments, result, None)])
    response = f"Here is what I found for '{prompt[:30]}': option {rng.randint(1, 9)} fits best."
    usage = [(rng.randint(300, 2500), rng.randint(20, 400)) for _ in range(len(cycles) + 1)]
    return _TurnScript(prompt, response, cycles, usage)


class _Renderer:
    """Writes one session's turns as one instrumentation would; each method returns the turn's end."""

    def __init__(
        self,
        rng: random.Random,
        resource: dict[str, Any],
        scope: str,
        persona: _Persona,
        session_id: str,
        mode: Mode,
    ) -> None:
        self.rng = rng
        self.resource = resource
        self.scope = {"name": scope, "version": ""}
        self.persona = persona
        self.session_id = session_id
        self.mode = mode
        self.model = _MODELS[rng.randrange(len(_MODELS))]
        self.records: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []

    def _span(
        self,
        trace_id: str,
        parent: str | None,
        name: str,
        start: int,
        end: int,
        attributes: dict[str, Any],
        *,
        events: list[dict[str, Any]] | None = None,
        error: str | None = None,
        kind: str = "INTERNAL",
    ) -> str:
        span_id = f"{self.rng.getrandbits(64):016x}"
        span: dict[str, Any] = {
            "resource": self.resource,
            "scope": self.scope,
            "traceId": trace_id,
            "spanId": span_id,
            "flags": 256,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": start,
            "endTimeUnixNano": end,
            "durationNano": end - start,
            "attributes": {**attributes, "session.id": self.session_id},
            "status": {"code": "ERROR", "message": error} if error else {"code": "OK"},
        }
        if parent:
            span["parentSpanId"] = parent
        if events and self.mode == "unified":
            span["events"] = events
        elif events:
            self.records.append(self._event_record(trace_id, span_id, end, events))
        elif self.mode == "split":
            self._split_attributes(span)
        self.records.append(span)
        return span_id

    def _split_attributes(self, span: dict[str, Any]) -> None:
        """ADOT split mode for attribute-carried content (OpenInference, OpenLLMetry, GenAI): the
        content attributes leave the span and become one event record (as in the recorded
        tests/fixtures/spans/*/split.jsonl; roles are kept where the attributes name them)."""
        attrs = span["attributes"]
        inputs: list[dict[str, Any]] = []
        outputs: list[dict[str, Any]] = []
        for key in sorted(attrs, key=_attribute_order):
            role_key = key[: -len("content")] + "role" if key.endswith(".content") else ""
            if key in ("input.value", "traceloop.entity.input", "gen_ai.input.messages"):
                inputs.append({"role": "user", "content": attrs.pop(key)})
            elif key in ("output.value", "traceloop.entity.output", "gen_ai.output.messages"):
                outputs.append({"role": "assistant", "content": attrs.pop(key)})
            elif key.startswith(("llm.input_messages.", "gen_ai.prompt.")) and key.endswith(".content"):
                inputs.append({"role": attrs.get(role_key, "user"), "content": attrs.pop(key)})
            elif key.startswith(("llm.output_messages.", "gen_ai.completion.")) and key.endswith(".content"):
                outputs.append({"role": "assistant", "content": attrs.pop(key)})
        if inputs or outputs:
            body: dict[str, Any] = {}
            if inputs:
                body["input"] = {"messages": inputs}
            if outputs:
                body["output"] = {"messages": outputs}
            self.records.append(
                {
                    "resource": self.resource,
                    "scope": self.scope,
                    "timeUnixNano": span["endTimeUnixNano"],
                    "observedTimeUnixNano": span["endTimeUnixNano"] + 1_000_000,
                    "severityNumber": 9,
                    "severityText": "",
                    "flags": 1,
                    "traceId": span["traceId"],
                    "spanId": span["spanId"],
                    "attributes": {"event.name": self.scope["name"], "session.id": self.session_id},
                    "body": body,
                }
            )

    def _event_record(
        self, trace_id: str, span_id: str, time: int, events: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """ADOT split mode: the span's content events become one log record with body input/output
        (the shape ADOT's LLOHandler emits; see tests/fixtures/spans/strands/split.jsonl)."""
        inputs: list[dict[str, Any]] = []
        outputs: list[dict[str, Any]] = []
        for event in events:
            attrs = event["attributes"]
            if event["name"] == "gen_ai.user.message":
                inputs.append({"role": "user", "content": {"content": attrs["content"]}})
            elif event["name"] == "gen_ai.system.message":
                inputs.append({"role": "system", "content": {"content": attrs["content"]}})
            elif event["name"] == "gen_ai.tool.message":
                inputs.append(
                    {
                        "role": "tool",
                        "content": {"content": attrs["content"], "role": "tool", "id": attrs["id"]},
                    }
                )
            elif event["name"] == "gen_ai.choice":
                content = {k: v for k, v in attrs.items() if k in ("message", "finish_reason", "id")}
                outputs.append({"role": "assistant", "content": content})
        return {
            "resource": self.resource,
            "scope": self.scope,
            "timeUnixNano": time,
            "observedTimeUnixNano": time + 1_000_000,
            "severityNumber": 9,
            "severityText": "",
            "flags": 1,
            "traceId": trace_id,
            "spanId": span_id,
            "attributes": {"event.name": self.scope["name"], "session.id": self.session_id},
            "body": {"input": {"messages": inputs}, "output": {"messages": outputs}},
        }

    def _times(self, clock: int, low_ms: float, high_ms: float) -> tuple[int, int]:
        return clock, clock + int(self.rng.uniform(low_ms, high_ms) * 1e6)

    # --- Strands ------------------------------------------------------------------------------------

    def strands(self, script: _TurnScript, clock: int) -> int:
        trace_id = f"{self.rng.getrandbits(128):032x}"
        agent_start = clock
        children: list[tuple[str, int, int, dict[str, Any], list[dict[str, Any]], str | None]] = []
        text_prompt = msgspec.json.encode([{"text": script.prompt}]).decode()
        self.history.append({"role": "user", "content": [{"text": script.prompt}]})
        cursor = clock + 1_000_000
        total_in = total_out = 0
        for index, usage in enumerate(script.usage):
            total_in += usage[0]
            total_out += usage[1]
            start, end = self._times(cursor, 300, 2500)
            tools = script.cycles[index] if index < len(script.cycles) else []
            if tools:
                message = msgspec.json.encode(
                    [
                        {"toolUse": {"toolUseId": s.call_id, "name": s.name, "input": s.arguments}}
                        for s in tools
                    ]
                ).decode()
                finish = "tool_use"
            else:
                message = msgspec.json.encode([{"text": script.response}]).decode()
                finish = "end_turn"
            chat_events = [
                {
                    "name": "gen_ai.user.message",
                    "timeUnixNano": start,
                    "attributes": {"content": text_prompt},
                },
                {
                    "name": "gen_ai.choice",
                    "timeUnixNano": end,
                    "attributes": {"message": message, "finish_reason": finish},
                },
            ]
            chat_attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "strands-agents",
                "gen_ai.request.model": self.model,
                "gen_ai.usage.input_tokens": usage[0],
                "gen_ai.usage.output_tokens": usage[1],
                "gen_ai.usage.total_tokens": usage[0] + usage[1],
            }
            children.append(("chat", start, end, chat_attrs, chat_events, None))
            cursor = end + 500_000
            for step in tools:
                t_start, t_end = self._times(cursor, 50, 1500)
                tool_attrs = {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.system": "strands-agents",
                    "gen_ai.tool.name": step.name,
                    "gen_ai.tool.call.id": step.call_id,
                    "gen_ai.tool.status": "error" if step.error else "success",
                }
                result_content = [{"text": step.error or step.result}]
                tool_events = [
                    {
                        "name": "gen_ai.tool.message",
                        "timeUnixNano": t_start,
                        "attributes": {
                            "role": "tool",
                            "content": msgspec.json.encode(step.arguments).decode(),
                            "id": step.call_id,
                        },
                    },
                    {
                        "name": "gen_ai.choice",
                        "timeUnixNano": t_end,
                        "attributes": {
                            "message": msgspec.json.encode(result_content).decode(),
                            "id": step.call_id,
                        },
                    },
                ]
                children.append(
                    (f"execute_tool {step.name}", t_start, t_end, tool_attrs, tool_events, step.error)
                )
                cursor = t_end + 500_000
        agent_end = cursor + 1_000_000
        agent_events = [
            {
                "name": "gen_ai.user.message",
                "timeUnixNano": agent_start,
                "attributes": {"content": text_prompt},
            },
            {
                "name": "gen_ai.choice",
                "timeUnixNano": agent_end,
                "attributes": {"message": script.response, "finish_reason": "end_turn"},
            },
        ]
        agent_id = self._span(
            trace_id,
            None,
            f"invoke_agent {self.persona.agent}",
            agent_start,
            agent_end,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.system": "strands-agents",
                "gen_ai.agent.name": self.persona.agent,
                "gen_ai.request.model": self.model,
                "gen_ai.system_instructions": self.persona.system_prompt,
                "gen_ai.agent.tools": msgspec.json.encode(list(self.persona.tools)).decode(),
                "gen_ai.usage.input_tokens": total_in,
                "gen_ai.usage.output_tokens": total_out,
            },
            events=agent_events,
        )
        cycle_id = self._span(
            trace_id,
            agent_id,
            "execute_event_loop_cycle",
            agent_start + 500_000,
            agent_end - 500_000,
            {"event_loop.cycle_id": _uuid(self.rng)},
        )
        for name, start, end, attrs, events, error in children:
            self._span(trace_id, cycle_id, name, start, end, attrs, events=events, error=error)
        self.history.append({"role": "assistant", "content": [{"text": script.response}]})
        return agent_end

    # --- OpenInference LangGraph ----------------------------------------------------------------------

    def langgraph(self, script: _TurnScript, clock: int) -> int:
        trace_id = f"{self.rng.getrandbits(128):032x}"
        self.history.append({"type": "human", "content": script.prompt})
        root_id = f"{self.rng.getrandbits(64):016x}"
        cursor = clock + 1_000_000
        for index, usage in enumerate(script.usage):
            start, end = self._times(cursor, 300, 2500)
            tools = script.cycles[index] if index < len(script.cycles) else []
            attrs: dict[str, Any] = {
                "openinference.span.kind": "LLM",
                "llm.model_name": self.model,
                "llm.token_count.prompt": usage[0],
                "llm.token_count.completion": usage[1],
                "llm.token_count.total": usage[0] + usage[1],
                "llm.input_messages.0.message.role": "system",
                "llm.input_messages.0.message.content": self.persona.system_prompt,
                "llm.input_messages.1.message.role": "user",
                "llm.input_messages.1.message.content": script.prompt,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "" if tools else script.response,
            }
            for t, name in enumerate(self.persona.tools):
                attrs[f"llm.tools.{t}.tool.name"] = name
            for t, step in enumerate(tools):
                attrs[f"llm.output_messages.0.message.tool_calls.{t}.tool_call.function.name"] = step.name
            self._span(trace_id, root_id, "ChatBedrockConverse", start, end, attrs, kind="INTERNAL")
            cursor = end + 500_000
            for step in tools:
                t_start, t_end = self._times(cursor, 50, 1500)
                tool_attrs = {
                    "openinference.span.kind": "TOOL",
                    "tool.name": step.name,
                    "tool_call.id": step.call_id,
                    "input.value": msgspec.json.encode(step.arguments).decode(),
                    "input.mime_type": "application/json",
                }
                if not step.error:
                    tool_attrs["output.value"] = step.result
                self._span(trace_id, root_id, step.name, t_start, t_end, tool_attrs, error=step.error)
                cursor = t_end + 500_000
        end = cursor + 1_000_000
        self.history.append({"type": "ai", "content": script.response})
        self._emit_with_id(
            root_id,
            trace_id,
            "LangGraph",
            clock,
            end,
            {
                "openinference.span.kind": "CHAIN",
                "input.value": msgspec.json.encode({"messages": [["user", script.prompt]]}).decode(),
                "input.mime_type": "application/json",
                "output.value": msgspec.json.encode({"messages": self.history[-2:]}).decode(),
                "output.mime_type": "application/json",
            },
        )
        return end

    def _emit_with_id(
        self, span_id: str, trace_id: str, name: str, start: int, end: int, attributes: dict[str, Any]
    ) -> None:
        span: dict[str, Any] = {
            "resource": self.resource,
            "scope": self.scope,
            "traceId": trace_id,
            "spanId": span_id,
            "flags": 256,
            "name": name,
            "kind": "INTERNAL",
            "startTimeUnixNano": start,
            "endTimeUnixNano": end,
            "durationNano": end - start,
            "attributes": {**attributes, "session.id": self.session_id},
            "status": {"code": "OK"},
        }
        if self.mode == "split":
            self._split_attributes(span)
        self.records.append(span)

    # --- OpenTelemetry (traceloop) LangChain ----------------------------------------------------------

    def langchain(self, script: _TurnScript, clock: int) -> int:
        trace_id = f"{self.rng.getrandbits(128):032x}"
        root_id = f"{self.rng.getrandbits(64):016x}"
        cursor = clock + 1_000_000
        for index, usage in enumerate(script.usage):
            start, end = self._times(cursor, 300, 2500)
            tools = script.cycles[index] if index < len(script.cycles) else []
            attrs = {
                "llm.request.type": "chat",
                "gen_ai.system": "AWS",
                "gen_ai.request.model": self.model,
                "gen_ai.usage.prompt_tokens": usage[0],
                "gen_ai.usage.completion_tokens": usage[1],
                "gen_ai.prompt.0.role": "system",
                "gen_ai.prompt.0.content": self.persona.system_prompt,
                "gen_ai.prompt.1.role": "user",
                "gen_ai.prompt.1.content": script.prompt,
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "" if tools else script.response,
            }
            self._span(trace_id, root_id, "ChatBedrock.chat", start, end, attrs, kind="CLIENT")
            cursor = end + 500_000
            for step in tools:
                t_start, t_end = self._times(cursor, 50, 1500)
                tool_attrs = {
                    "traceloop.span.kind": "tool",
                    "traceloop.entity.name": step.name,
                    "traceloop.entity.input": msgspec.json.encode({"inputs": step.arguments}).decode(),
                }
                if not step.error:
                    tool_attrs["traceloop.entity.output"] = step.result
                self._span(
                    trace_id, root_id, f"{step.name}.tool", t_start, t_end, tool_attrs, error=step.error
                )
                cursor = t_end + 500_000
        end = cursor + 1_000_000
        self._emit_with_id(
            root_id,
            trace_id,
            "AgentExecutor.workflow",
            clock,
            end,
            {
                "traceloop.span.kind": "workflow",
                "traceloop.entity.name": "AgentExecutor",
                "traceloop.entity.input": msgspec.json.encode({"inputs": {"input": script.prompt}}).decode(),
                "traceloop.entity.output": msgspec.json.encode(
                    {"outputs": {"output": script.response}}
                ).decode(),
            },
        )
        return end

    # --- OpenTelemetry OpenAI Agents ------------------------------------------------------------------

    def openai_agents(self, script: _TurnScript, clock: int) -> int:
        trace_id = f"{self.rng.getrandbits(128):032x}"
        root_id = f"{self.rng.getrandbits(64):016x}"
        cursor = clock + 1_000_000
        for index, usage in enumerate(script.usage):
            start, end = self._times(cursor, 300, 2500)
            tools = script.cycles[index] if index < len(script.cycles) else []
            output: list[dict[str, Any]] = [
                {"role": "assistant", "parts": [{"type": "tool_call", "name": s.name, "id": s.call_id}]}
                for s in tools
            ] or [{"role": "assistant", "parts": [{"type": "text", "content": script.response}]}]
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": self.model,
                "gen_ai.usage.input_tokens": usage[0],
                "gen_ai.usage.output_tokens": usage[1],
                "gen_ai.input.messages": msgspec.json.encode(
                    [{"role": "user", "parts": [{"type": "text", "content": script.prompt}]}]
                ).decode(),
                "gen_ai.output.messages": msgspec.json.encode(output).decode(),
            }
            self._span(trace_id, root_id, f"chat {self.model}", start, end, attrs, kind="CLIENT")
            cursor = end + 500_000
            for step in tools:
                t_start, t_end = self._times(cursor, 50, 1500)
                tool_attrs = {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": step.name,
                    "gen_ai.tool.call.id": step.call_id,
                    "gen_ai.tool.call.arguments": msgspec.json.encode(step.arguments).decode(),
                }
                if not step.error:
                    tool_attrs["gen_ai.tool.call.result"] = step.result
                self._span(
                    trace_id,
                    root_id,
                    f"execute_tool {step.name}",
                    t_start,
                    t_end,
                    tool_attrs,
                    error=step.error,
                )
                cursor = t_end + 500_000
        end = cursor + 1_000_000
        self._emit_with_id(
            root_id,
            trace_id,
            f"invoke_agent {self.persona.agent}",
            clock,
            end,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": self.persona.agent,
                "gen_ai.system_instructions": self.persona.system_prompt,
                "gen_ai.input.messages": msgspec.json.encode(
                    [{"role": "user", "parts": [{"type": "text", "content": script.prompt}]}]
                ).decode(),
                "gen_ai.output.messages": msgspec.json.encode(
                    [{"role": "assistant", "parts": [{"type": "text", "content": script.response}]}]
                ).decode(),
            },
        )
        return end
