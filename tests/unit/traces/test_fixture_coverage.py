"""Nothing a recorded span carries for a slot of the session model is lost on the way to the session.

Walks every recorded fixture (every framework, unified and split storage, old and latest GenAI
conventions) with a deliberately simple census that does not use the parser: it parses every JSON
text it meets and collects what any record says about a tool result, arguments or error, a user
input, an agent response, a system prompt, token counts or a model id. Each value found must reach the
assembled session: a new shape an instrumentation writes fails here rather than reaching the judges
empty.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from batcheval.traces.files import load_sessions
from batcheval.traces.model import Session

FIXTURES = Path(__file__).parents[2] / "fixtures" / "spans"
RECORDINGS = sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*.jsonl"))

_MODEL_OPERATIONS = {"chat", "text_completion", "generate_content"}
_USER_ROLES = {"user", "human", "HumanMessage"}
_SYSTEM_ROLES = {"system", "SystemMessage"}
_ASSISTANT_ROLES = {"assistant", "ai", "AIMessage", "model"}
_MODEL_KEYS = ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name")
_INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
_OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)


def _parsed(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    """Every object inside a value, JSON text parsed on the way."""
    value = _parsed(value)
    if isinstance(value, dict):
        yield value
        for inner in value.values():
            yield from _dicts(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _dicts(inner)


def _strings(value: Any) -> list[str]:
    """The non-blank strings inside a value (JSON text parsed on the way)."""
    value = _parsed(value)
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, dict):
        return [s for inner in value.values() for s in _strings(inner)]
    if isinstance(value, list):
        return [s for inner in value for s in _strings(inner)]
    return []


def _flattened_messages(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenInference's `llm.input_messages.N.message.*` attributes as message objects."""
    messages: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    for key, value in attributes.items():
        parts = key.split(".")
        if len(parts) >= 5 and parts[0] == "llm" and parts[2].isdigit() and parts[3] == "message":
            messages[(parts[1], parts[2])][".".join(parts[4:])] = value
    return list(messages.values())


def _flattened_tool_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A flattened message's `tool_calls.M.tool_call.*` fields as one object per call."""
    calls: dict[str, dict[str, Any]] = defaultdict(dict)
    for key, value in message.items():
        index, _, rest = key.removeprefix("tool_calls.").partition(".")
        if key.startswith("tool_calls.") and index.isdigit():
            calls[index][rest] = value
    return list(calls.values())


def _role(message: dict[str, Any]) -> Any:
    role = message.get("role") or message.get("type")
    if role == "constructor" and isinstance(message.get("id"), list):
        role = message["id"][-1]
    return role


@dataclass
class Census:
    """What the raw records carry, per slot."""

    tool_results: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    """tool-call id → recorded responses"""
    tool_arguments: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    """tool-call id → arguments the model asked for (parsed)"""
    tool_errors: set[str] = field(default_factory=set)
    """span ids of tool spans that say why they failed"""
    error_responses: set[str] = field(default_factory=set)
    """tool-call ids whose response says the call failed"""
    user_texts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """traceId → user texts"""
    assistant_texts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """traceId → assistant texts"""
    system_texts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """traceId → system prompt texts"""
    input_tokens: dict[str, int] = field(default_factory=dict)
    """model span id → input tokens"""
    output_tokens: dict[str, int] = field(default_factory=dict)
    models: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """model span id → model ids"""


def _is_tool_span(attributes: dict[str, Any]) -> bool:
    return (
        attributes.get("gen_ai.operation.name") == "execute_tool"
        or attributes.get("openinference.span.kind") == "TOOL"
        or attributes.get("traceloop.span.kind") == "tool"
    )


def _is_model_span(attributes: dict[str, Any]) -> bool:
    return (
        attributes.get("gen_ai.operation.name") in _MODEL_OPERATIONS
        or attributes.get("openinference.span.kind") == "LLM"
        or attributes.get("llm.request.type") in ("chat", "completion")
    )


def _take_requests(census: Census, d: dict[str, Any]) -> None:
    """Tool calls a model asked for, in the shapes the conventions write them."""
    if d.get("type") == "tool_call" and d.get("id"):
        census.tool_arguments[str(d["id"])].append(_parsed(d.get("arguments")))
    elif isinstance(d.get("toolUse"), dict) and d["toolUse"].get("toolUseId"):
        census.tool_arguments[str(d["toolUse"]["toolUseId"])].append(_parsed(d["toolUse"].get("input")))
    elif isinstance(d.get("function"), dict) and d.get("id"):
        census.tool_arguments[str(d["id"])].append(_parsed(d["function"].get("arguments")))
    elif d.get("type") == "tool_call" and isinstance(d.get("args"), dict):
        census.tool_arguments[str(d.get("id"))].append(d["args"])
    elif isinstance(d.get("tool_call.id"), str) and "tool_call.function.arguments" in d:
        census.tool_arguments[d["tool_call.id"]].append(_parsed(d["tool_call.function.arguments"]))


def _take_messages(census: Census, trace_id: str, value: Any) -> None:
    """Tool responses, user and assistant texts anywhere inside a value."""
    for d in _dicts(value):
        role = _role(d)
        fields = d.get("kwargs") if isinstance(d.get("kwargs"), dict) else d.get("data")
        fields = fields if isinstance(fields, dict) else d
        _take_requests(census, d)
        if d.get("type") == "tool_call_response" and d.get("id"):
            census.tool_results[str(d["id"])].append(d.get("response"))
            if isinstance(d.get("response"), dict) and d["response"].get("status") == "error":
                census.error_responses.add(str(d["id"]))
        elif d.get("type") == "function_call_output" and d.get("call_id"):
            census.tool_results[str(d["call_id"])].append(d.get("output"))
        elif isinstance(d.get("toolResult"), dict) and d["toolResult"].get("toolUseId"):
            result = d["toolResult"]
            census.tool_results[str(result["toolUseId"])].append(result.get("content"))
            if result.get("status") == "error":
                census.error_responses.add(str(result["toolUseId"]))
        elif (role in ("tool", "ToolMessage") or fields.get("type") == "tool") and fields.get("tool_call_id"):
            census.tool_results[str(fields["tool_call_id"])].append(fields.get("content"))
            if fields.get("status") == "error":
                census.error_responses.add(str(fields["tool_call_id"]))
        elif role in _SYSTEM_ROLES:
            census.system_texts[trace_id].extend(_strings(fields.get("content", d.get("parts"))))
        elif role in _USER_ROLES:
            content = fields.get("content", d.get("parts"))
            if "toolResult" not in json.dumps(content):
                census.user_texts[trace_id].extend(_strings(content))
        elif role in _ASSISTANT_ROLES:
            content = fields.get("content", d.get("parts"))
            census.assistant_texts[trace_id].extend(
                s for s in _strings(content) if not s.startswith(("{", "["))
            )


def _count(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _response_models(value: Any) -> set[str]:
    """Model ids in LangChain `response_metadata` anywhere inside a value."""
    found: set[str] = set()
    for d in _dicts(value):
        metadata = d.get("response_metadata")
        if isinstance(metadata, dict):
            found.update(str(metadata[k]) for k in ("model_name", "model_id", "model") if metadata.get(k))
    return found


def census_of(records: list[dict[str, Any]]) -> Census:
    census = Census()
    model_spans = {
        r["spanId"] for r in records if "startTimeUnixNano" in r and _is_model_span(r.get("attributes") or {})
    }
    for record in records:
        trace_id, span_id = record["traceId"], record["spanId"]
        attributes = record.get("attributes") or {}
        if attributes.get("gen_ai.operation.name") == "create_agent":
            continue  # set-up, not a turn (OpenLLMetry records the agent's prompt there)
        events = record.get("events") or []
        content = [attributes, [e.get("attributes") for e in events], record.get("body")]
        _take_messages(census, trace_id, content)
        for message in _flattened_messages(attributes):
            _take_messages(census, trace_id, [message])
            for call in _flattened_tool_calls(message):
                _take_requests(census, call)
        for where in [attributes, *(e.get("attributes") or {} for e in events)]:
            census.system_texts[trace_id].extend(_strings(where.get("gen_ai.system_instructions")))
        for event in events:
            event_attributes = event.get("attributes") or {}
            if event.get("name") == "gen_ai.system.message":
                census.system_texts[trace_id].extend(_strings(event_attributes.get("content")))
            elif event.get("name") == "gen_ai.user.message":
                census.user_texts[trace_id].extend(_strings(event_attributes.get("content")))
            elif event.get("name") in ("gen_ai.choice", "gen_ai.assistant.message") and not _is_tool_span(
                attributes
            ):
                texts = _strings(event_attributes.get("message", event_attributes.get("content")))
                census.assistant_texts[trace_id].extend(texts)
        if span_id in model_spans:  # the model's reply as LangChain returned it, on the span or split off
            body = record["body"] if isinstance(record.get("body"), dict) else {}
            outputs = [
                attributes.get("output.value"),
                attributes.get("gen_ai.output.messages"),
                body.get("output"),
            ]
            found = _response_models(outputs)
            if found:
                census.models[span_id].update(found)
        if "startTimeUnixNano" not in record:
            continue  # an event record: its content is taken above
        if _is_tool_span(attributes):
            status = record.get("status") or {}
            exception = any(e.get("name") == "exception" for e in events)
            if status.get("code") == "ERROR" and (status.get("message") or exception):
                census.tool_errors.add(span_id)
            if attributes.get("gen_ai.tool.call.id") and attributes.get("gen_ai.tool.call.result"):
                call_id = str(attributes["gen_ai.tool.call.id"])
                census.tool_results[call_id].append(attributes["gen_ai.tool.call.result"])
        if _is_model_span(attributes):
            for keys, into in (
                (_INPUT_TOKEN_KEYS, census.input_tokens),
                (_OUTPUT_TOKEN_KEYS, census.output_tokens),
            ):
                for key in keys:
                    count = _count(attributes.get(key))
                    if count is not None:
                        into.setdefault(span_id, count)
            for key in _MODEL_KEYS:
                if attributes.get(key) and attributes[key] != "unknown":
                    census.models[span_id].add(str(attributes[key]))
    return census


def _read(fixture: str) -> tuple[list[dict[str, Any]], list[Session]]:
    path = FIXTURES / fixture
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return records, load_sessions(path).sessions


def _contains_one(assembled: str | None, recorded: list[str]) -> bool:
    return assembled is not None and (not recorded or any(text in assembled for text in recorded))


@pytest.mark.parametrize("fixture", RECORDINGS)
def test_every_recorded_value_reaches_the_session(fixture):
    # Given a recording and what its raw records carry, read without the parser
    records, sessions = _read(fixture)
    census = census_of(records)
    calls_by_id = {c.tool_call_id: c for s in sessions for c in s.tool_calls if c.tool_call_id}
    calls_by_span = {c.span_id: c for s in sessions for c in s.tool_calls}
    turns = {t.trace_id: t for s in sessions for t in s.turns}
    model_calls = {m.span_id: m for s in sessions for t in s.turns for m in t.model_calls}
    missing: list[str] = []

    # When each recorded value is looked up in the assembled sessions
    for call_id, responses in census.tool_results.items():
        call = calls_by_id.get(call_id)
        texts = [text for response in responses for text in _strings(response)]
        if call is None or not _contains_one(call.result, texts):
            missing.append(f"tool result of {call_id}: {texts[:1]} → {call.result if call else 'no call'!r}")
    for call_id, requested in census.tool_arguments.items():
        call = calls_by_id.get(call_id)
        if call is not None and (call.arguments is None or _parsed(call.arguments) not in requested):
            missing.append(f"arguments of {call_id}: {requested[:1]} → {call.arguments!r}")
    for call_id in census.error_responses:
        call = calls_by_id.get(call_id)
        if call is None or call.error is None:
            missing.append(f"error-shaped response of {call_id}")
    for span_id in census.tool_errors:
        call = calls_by_span.get(span_id)
        if call is None or call.error is None or call.status != "error":
            missing.append(f"tool error of span {span_id}")
    for trace_id, texts in census.user_texts.items():
        turn = turns.get(trace_id)
        if turn is None or not _contains_one(turn.user_input, texts):
            missing.append(f"user input of trace {trace_id}: {texts[-1:]}")
    for trace_id, texts in census.assistant_texts.items():
        turn = turns.get(trace_id)
        if turn is None or not _contains_one(turn.agent_response, texts):
            missing.append(f"agent response of trace {trace_id}: {texts[-1:]}")
    for trace_id, texts in census.system_texts.items():
        turn = turns.get(trace_id)
        if texts and (turn is None or not _contains_one(turn.system_prompt, texts)):
            missing.append(f"system prompt of trace {trace_id}: {texts[-1:]}")
    for span_id, tokens in census.input_tokens.items():
        if span_id not in model_calls or model_calls[span_id].input_tokens != tokens:
            missing.append(f"input tokens of model span {span_id}: {tokens}")
    for span_id, tokens in census.output_tokens.items():
        if span_id not in model_calls or model_calls[span_id].output_tokens != tokens:
            missing.append(f"output tokens of model span {span_id}: {tokens}")
    for span_id, models in census.models.items():
        if span_id not in model_calls or model_calls[span_id].model not in models:
            missing.append(f"model of span {span_id}: {sorted(models)}")

    # Then nothing recorded is missing, and the census found something of every kind it looks for
    assert missing == []
    assert census.tool_results
    assert census.tool_errors
    assert census.tool_arguments
    assert census.user_texts
    assert census.assistant_texts
    assert any(census.system_texts.values())
    assert census.input_tokens
    assert census.output_tokens


def test_every_framework_storage_mode_and_convention_is_recorded():
    # Given the recordings, Then each framework has a split-mode one, and both GenAI convention
    # versions (older: events / flat attributes; latest: message `parts`) are among them
    frameworks = {fixture.split("/")[0] for fixture in RECORDINGS}
    assert frameworks == {"strands", "langgraph", "openai_agents"}
    assert all(f"{framework}/split.jsonl" in RECORDINGS for framework in frameworks)
    latest = [f for f in RECORDINGS if "tool_call_response" in (FIXTURES / f).read_text()]
    assert "strands/latest_semconv.jsonl" in latest
    assert "openai_agents/opentelemetry.jsonl" in latest
    assert "strands/latest_semconv_split.jsonl" in latest
    assert "openai_agents/opentelemetry_split.jsonl" in latest
    assert "langgraph/openinference_genai_split.jsonl" in latest
    assert "strands/unified.jsonl" not in latest
