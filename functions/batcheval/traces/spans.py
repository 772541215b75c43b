"""What one span means: its role in the turn and the fields evaluators need, per the documented lookup order.

Role of a span (first rule that matches):

1. `gen_ai.operation.name`: `invoke_agent` → agent (`create_agent` is set-up, not a turn),
   `execute_tool` → tool, `chat`/`text_completion`/`generate_content` → llm (OTel GenAI conventions, Strands);
2. `openinference.span.kind`: AGENT → agent, CHAIN → chain, TOOL → tool, LLM → llm;
3. traceloop fallbacks: `traceloop.span.kind` workflow/agent → agent, tool → tool;
   `llm.request.type` chat/completion → llm;
4. the span name's verb (`invoke_agent X`, `execute_tool X`, `chat`).

Field lookup order (reference §2.3; first hit wins) is spelled out by each accessor below. Content is
read from, in order: split-mode event records (`body.input` / `body.output`), unified inline span
events (Strands `gen_ai.*.message` / `gen_ai.choice`), then attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import msgspec

from batcheval.traces.content import (
    as_json_text,
    as_text,
    error_shaped,
    expand_wrapped,
    indexed_messages,
    last_with_role,
    maybe_json,
    message_text,
    messages_of,
    role_of,
    tool_requests,
    tool_responses,
)
from batcheval.traces.records import MAX_NANOS, InlineEvent, Record, as_nanos

SpanRole = Literal["agent", "chain", "tool", "llm", "other"]

_OPERATION_ROLES: dict[str, SpanRole] = {
    "invoke_agent": "agent",
    "execute_tool": "tool",
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
}
_OPENINFERENCE_ROLES: dict[str, SpanRole] = {
    "AGENT": "agent",
    "CHAIN": "chain",
    "TOOL": "tool",
    "LLM": "llm",
}
_TRACELOOP_ROLES: dict[str, SpanRole] = {"workflow": "agent", "agent": "agent", "tool": "tool"}
_CODE_STATUS: dict[str | int | None, Literal["OK", "ERROR", "UNSET"]] = {
    "ERROR": "ERROR",
    "STATUS_CODE_ERROR": "ERROR",
    2: "ERROR",
    "2": "ERROR",
    "OK": "OK",
    "STATUS_CODE_OK": "OK",
    1: "OK",
    "1": "OK",
}
"""Status codes as OTel exporters write them (names or enum numbers) → status; anything else is UNSET."""

_INPUT_EVENT_ROLES = {
    "gen_ai.user.message": "user",
    "gen_ai.system.message": "system",
    "gen_ai.assistant.message": "assistant",
}


class SpanView(msgspec.Struct, gc=False):
    """A span document plus the event records joined to it; cheap to build for 100,000s of spans
    (a Struct: built in C, ~10x faster than a Python `__init__`). Build with `span_view`."""

    record: Record
    span_id: str
    scope: str
    role: SpanRole
    name: str
    start_ns: int | None
    end_ns: int | None
    status_code: Literal["OK", "ERROR", "UNSET"]
    attributes: dict[str, Any]
    events: list[InlineEvent]
    event_records: list[Record] = []
    """Split-mode event records joined to the span, in time order."""
    inputs: list[Any] | None = None
    """`input_messages`, once worked out."""
    outputs: list[Any] | None = None
    """`output_messages`, once worked out."""

    def error_message(self) -> str | None:
        """Why the span failed (`recorded_error()`), "error" when it failed without saying why."""
        if self.status_code != "ERROR":
            return None
        return self.recorded_error() or "error"

    def recorded_error(self) -> str | None:
        """What the span says about its failure: the status message (without a Python traceback),
        else an `exception` event's message (or type), else `error.type`; `None` when none is there."""
        status = self.record.status
        message = status.message if status is not None else None
        if message:
            text = str(message).split("Traceback (most recent call last)", 1)[0].strip()
            if text:
                return text
        for event in self.events:
            if event.name == "exception":
                attrs = event.attributes
                described = attrs.get("exception.message") or attrs.get("exception.type")
                if described:
                    return str(described)
        error_type = self.attributes.get("error.type")
        return str(error_type) if error_type else None

    # --- messages ---------------------------------------------------------------------------------

    def input_messages(self) -> list[Any]:
        """Messages the span received: event records' `body.input`, then inline events, then attributes."""
        if self.inputs is None:
            self.inputs = self._input_messages()
        return self.inputs

    def output_messages(self) -> list[Any]:
        """Messages the span produced, in the same source order as `input_messages`."""
        if self.outputs is None:
            self.outputs = self._output_messages()
        return self.outputs

    def _input_messages(self) -> list[Any]:
        found: list[Any] = []
        for event_record in self.event_records:
            body = event_record.body
            if isinstance(body, dict):
                found.extend(messages_of(body.get("input")) or ())
        if found:
            return expand_wrapped(found)
        for event in self.events:
            name, attrs = event.name, event.attributes
            role = _INPUT_EVENT_ROLES.get(name) if type(name) is str else None
            if role is not None:
                found.append({"role": role, "content": attrs.get("content")})
            elif name == "gen_ai.tool.message":
                found.append({"role": "tool", "content": attrs.get("content"), "id": attrs.get("id")})
            elif "gen_ai.input.messages" in attrs:  # latest GenAI conventions: operation.details events
                found.extend(messages_of(attrs["gen_ai.input.messages"]) or ())
        if found:
            return found
        return _attribute_messages(self.attributes, _INPUT_ATTRIBUTES)

    def _output_messages(self) -> list[Any]:
        found: list[Any] = []
        for event_record in self.event_records:
            body = event_record.body
            if isinstance(body, dict):
                found.extend(messages_of(body.get("output")) or ())
        if found:
            return expand_wrapped(found)
        for event in self.events:
            name, attrs = event.name, event.attributes
            if name == "gen_ai.choice":
                found.append({"role": "assistant", "content": attrs.get("message")})
            elif "gen_ai.output.messages" in attrs:
                found.extend(messages_of(attrs["gen_ai.output.messages"]) or ())
        if found:
            return found
        return _attribute_messages(self.attributes, _OUTPUT_ATTRIBUTES, indexed_role="assistant")

    # --- agent (turn root) fields -----------------------------------------------------------------

    def user_input(self) -> str | None:
        """body.input / gen_ai.user.message → gen_ai.task.input → agentcore.invocation.user_prompt
        → input.value → traceloop.entity.input.

        Of a message list the *last* user message wins: frameworks that pass the whole history put
        the current turn's prompt last.
        """
        text = last_user_text(self.input_messages())
        if text:
            return text
        return _plain_text(self.attributes, _PLAIN_INPUT_KEYS)

    def agent_response(self) -> str | None:
        """body.output / gen_ai.choice → gen_ai.task.output → agentcore.invocation.agent_response
        → output.value → traceloop.entity.output."""
        text = last_with_role(self.output_messages(), "assistant")
        if text:
            return text
        return _plain_text(self.attributes, _PLAIN_OUTPUT_KEYS)

    def system_prompt(self) -> str | None:
        attrs = self.attributes
        for key in ("gen_ai.system_instructions", "system_prompt", "gen_ai.agent.system_prompt"):
            if attrs.get(key):
                return as_text(attrs[key])
        for event in self.events:
            event_attrs = event.attributes
            if event_attrs.get("gen_ai.system_instructions"):
                return as_text(event_attrs["gen_ai.system_instructions"])
        for message in self.input_messages():
            if role_of(message) == "system":
                return message_text(message)
        return None

    def available_tools(self) -> tuple[str, ...]:
        declared = self.attributes.get("gen_ai.agent.tools")
        if type(declared) is str and len(declared) <= _CACHED_TOOLS_MAX:
            cached = _declared_tool_names(declared)
            if cached is not None:
                return cached
        tools = maybe_json(declared)
        if isinstance(tools, list):
            return _tool_names(tools)
        names = [
            value
            for key, value in self.attributes.items()
            if key.startswith("llm.tools.") and key.endswith(".tool.name") and isinstance(value, str)
        ]
        return tuple(names)

    # --- tool fields ------------------------------------------------------------------------------

    def tool_name(self) -> str:
        attrs = self.attributes
        for key in ("gen_ai.tool.name", "tool.name", "traceloop.entity.name"):
            if attrs.get(key):
                return str(attrs[key])
        return self.name.removeprefix("execute_tool ").strip() or "unknown"

    def tool_call_id(self) -> str | None:
        attrs = self.attributes
        for key in ("gen_ai.tool.call.id", "tool_call.id", "tool.call.id"):
            if attrs.get(key):
                return str(attrs[key])
        for key in ("output.value", "gen_ai.tool.call.result", "traceloop.entity.output"):
            tool_message = _langchain_tool_message(attrs.get(key))
            if tool_message is not None and tool_message.get("tool_call_id"):
                return str(tool_message["tool_call_id"])
        for message in self.input_messages():
            for request in tool_requests(message):  # latest GenAI conventions: a `tool_call` part
                if request.call_id:
                    return request.call_id
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, dict) and content.get("id"):
                return str(content["id"])
            if isinstance(message, dict) and message.get("id"):
                return str(message["id"])
        for message in self.output_messages():
            for response in tool_responses(message):
                if response.call_id:
                    return response.call_id
        return None

    def tool_arguments(self) -> str | None:
        """gen_ai.tool.call.arguments (unless it is the tool's parameter schema) → body.input /
        gen_ai.tool.message / a `tool_call` part → input.value → traceloop.entity.input."""
        attrs = self.attributes
        recorded = attrs.get("gen_ai.tool.call.arguments")
        # OpenInference's GenAI conversion copies the tool's parameter schema (`tool.parameters`) there
        if recorded is not None and recorded != attrs.get("tool.parameters"):
            return as_json_text(recorded)
        for message in self.input_messages():
            requests = tool_requests(message)  # latest GenAI conventions: a `tool_call` part
            if requests and requests[0].arguments is not None:
                return as_json_text(requests[0].arguments)
            content = message.get("content") if isinstance(message, dict) else message
            if isinstance(content, dict) and "content" in content:
                content = content["content"]
            if content is not None:
                return as_json_text(content)
        for key in ("input.value", "traceloop.entity.input"):
            if attrs.get(key) is not None:
                return as_json_text(attrs[key])
        return None

    def tool_result(self) -> str | None:
        return self.tool_output()[0]

    def tool_output(self) -> tuple[str | None, bool]:
        """The tool's result and whether the response itself says the call failed (`error_shaped`):
        gen_ai.tool.call.result → body.output / gen_ai.choice / gen_ai.output.messages (a
        `tool_call_response` part or a tool message) → output.value → traceloop.entity.output."""
        attrs = self.attributes
        if attrs.get("gen_ai.tool.call.result") is not None:
            recorded = attrs["gen_ai.tool.call.result"]
            tool_message = _langchain_tool_message(recorded)
            if tool_message is not None:
                return as_json_text(tool_message.get("content")), tool_message.get("status") == "error"
            return as_json_text(recorded), error_shaped(recorded)
        for message in self.output_messages():
            responses = tool_responses(message)
            if responses:
                response = responses[0]
                return as_json_text(response.content), response.is_error
            content = message.get("content") if isinstance(message, dict) else message
            if isinstance(content, dict) and "message" in content:
                content = content["message"]
            tool_message = _langchain_tool_message(content)
            if tool_message is not None:  # split-mode OpenInference: the dumped ToolMessage
                return as_json_text(tool_message.get("content")), tool_message.get("status") == "error"
            if content is not None:
                return as_json_text(content), error_shaped(content)
        for key in ("output.value", "traceloop.entity.output"):
            tool_message = _langchain_tool_message(attrs.get(key))
            if tool_message is not None:
                return as_json_text(tool_message.get("content")), tool_message.get("status") == "error"
        for key in ("output.value", "traceloop.entity.output"):
            if attrs.get(key) is not None:
                return as_json_text(attrs[key]), error_shaped(attrs[key])
        return None, False

    def requested_tool_calls(self) -> list[tuple[str, str, str]]:
        """(tool-call id, tool name, arguments) the model asked for, in order: OpenInference
        `llm.output_messages.*.tool_calls.*`, or the output messages' requests (`tool_requests`)."""
        fields: dict[str, dict[str, str]] = {}
        for key, value in self.attributes.items():
            if not key.startswith("llm.output_messages.") or ".tool_calls." not in key:
                continue
            call, _, name = key.rpartition(".tool_call.")
            fields.setdefault(call, {})[name] = as_json_text(value) or ""
        requested = [
            (f["id"], f.get("function.name", ""), f.get("function.arguments", ""))
            for _, f in sorted(fields.items(), key=lambda kv: _index_key(kv[0]))
            if f.get("id")
        ]
        for message in self.output_messages():
            for request in tool_requests(message):
                if request.call_id:
                    arguments = as_json_text(request.arguments) or ""
                    requested.append((request.call_id, request.name or "", arguments))
        return requested

    def tool_status(
        self, result: str | None, error_response: bool = False
    ) -> Literal["success", "error", "unknown"]:
        """`gen_ai.tool.status` / `gen_ai.task.status`, else the span status (ERROR → error, OK →
        success); with an UNSET status an error-shaped response counts as error, a recorded result
        as success, else unknown."""
        status = self.attributes.get("gen_ai.tool.status") or self.attributes.get("gen_ai.task.status")
        if isinstance(status, str) and status:
            lowered = status.lower()
            if lowered in ("success", "ok"):
                return "success"
            if lowered in ("error", "failed", "failure"):
                return "error"
        code = self.status_code
        if code == "ERROR":
            return "error"
        if code == "OK":
            return "success"
        if error_response:
            return "error"
        return "success" if result is not None else "unknown"

    # --- model fields -----------------------------------------------------------------------------

    def model(self) -> str | None:
        attrs = self.attributes
        for key in ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name", "llm.request.model"):
            name = attrs.get(key)
            if name and name != "unknown":  # OpenLLMetry writes "unknown" when it has no name
                return name if type(name) is str else str(name)
        for key in ("llm.invocation_parameters", "metadata"):  # OpenInference LangChain fallbacks
            params = maybe_json(attrs.get(key))
            if isinstance(params, dict):
                for name in ("model", "model_id", "model_name", "ls_model_name"):
                    if isinstance(params.get(name), str) and params[name]:
                        return str(params[name])
        # the AIMessage the chat model returned (`output.value`, split: the output message's content)
        outputs = [attrs.get("output.value")]
        if self.event_records:
            outputs.extend(m.get("content") for m in self.output_messages() if isinstance(m, dict))
        for output in outputs:
            name = _langchain_response_model(output)
            if name is not None:
                return name
        return None

    def input_tokens(self) -> int | None:
        attrs = self.attributes
        for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"):
            value = attrs.get(key)
            if type(value) is int and 0 <= value < MAX_NANOS:
                return value
            value = as_nanos(value)
            if value is not None:
                return value
        return None

    def output_tokens(self) -> int | None:
        attrs = self.attributes
        for key in (
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        ):
            value = attrs.get(key)
            if type(value) is int and 0 <= value < MAX_NANOS:
                return value
            value = as_nanos(value)
            if value is not None:
                return value
        return None


_PLAIN_INPUT_KEYS = (
    "gen_ai.task.input",
    "agentcore.invocation.user_prompt",
    "input.value",
    "traceloop.entity.input",
)
_PLAIN_OUTPUT_KEYS = (
    "gen_ai.task.output",
    "agentcore.invocation.agent_response",
    "output.value",
    "traceloop.entity.output",
)


def _plain_text(attrs: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The text of the first of `keys` holding a plain value (a message list is not one)."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and not messages_of(value):
            return as_text(value)
    return None


def _tool_names(tools: list[Any]) -> tuple[str, ...]:
    return tuple(str(t.get("name") if isinstance(t, dict) else t) for t in tools)


_CACHED_TOOLS_MAX = 4096


@lru_cache(maxsize=1024)
def _declared_tool_names(declared: str) -> tuple[str, ...] | None:
    """Tool names of a `gen_ai.agent.tools` JSON list, cached: every turn of an agent repeats the list."""
    tools = maybe_json(declared)
    return _tool_names(tools) if isinstance(tools, list) else None


def _index_key(path: str) -> tuple[int, ...]:
    """`llm.output_messages.0.message.tool_calls.10` sorts after `...tool_calls.9`."""
    return tuple(int(part) for part in path.split(".") if part.isdigit())


def _langchain_tool_message(value: Any) -> dict[str, Any] | None:
    """The fields of a dumped LangChain ToolMessage, else `None`.

    OpenInference writes `{"type": "tool", "data": {...}}`; OpenLLMetry writes the serialised
    constructor `{"output": {"lc": 1, "id": [..., "ToolMessage"], "kwargs": {...}}}`.
    """
    if not isinstance(value, str) or '"tool' not in value:
        return None
    parsed = maybe_json(value)
    if isinstance(parsed, dict) and isinstance(parsed.get("output"), dict):
        parsed = parsed["output"]
    if not isinstance(parsed, dict):
        return None
    for key in ("data", "kwargs"):
        fields = parsed.get(key)
        if isinstance(fields, dict) and (fields.get("type") == "tool" or "tool_call_id" in fields):
            return fields
    return None


def _langchain_response_model(value: Any) -> str | None:
    """`response_metadata.model_name` (or `model_id`, `model`) of the AIMessage in a dumped LangChain
    `LLMResult` (`{"generations": [[{"message": ...}]]}`), else `None`."""
    if not isinstance(value, str) or '"response_metadata"' not in value:
        return None
    result = maybe_json(value)
    generations = result.get("generations") if isinstance(result, dict) else None
    for group in generations if isinstance(generations, list) else ():
        for generation in group if isinstance(group, list) else ():
            message = generation.get("message") if isinstance(generation, dict) else None
            if not isinstance(message, dict):
                continue
            fields = message.get("kwargs") or message.get("data") or message
            metadata = fields.get("response_metadata") if isinstance(fields, dict) else None
            if isinstance(metadata, dict):
                for key in ("model_name", "model_id", "model"):
                    if isinstance(metadata.get(key), str) and metadata[key]:
                        return str(metadata[key])
    return None


def span_view(record: Record, span_id: str, scope: str, role: SpanRole) -> SpanView:
    """The view of a span document (times and status normalised: "not recorded" is `None` / UNSET)."""
    name = record.name
    start = record.startTimeUnixNano
    end = record.endTimeUnixNano
    status = record.status
    return SpanView(
        record,
        span_id,
        scope,
        role,
        name if type(name) is str else "",
        start if type(start) is int else None,
        end if type(end) is int else None,
        "UNSET" if status is None else _CODE_STATUS.get(status.code, "UNSET"),
        record.attributes,
        record.events,
    )


def status_code(record: Record) -> Literal["OK", "ERROR", "UNSET"]:
    status = record.status
    return "UNSET" if status is None else _CODE_STATUS.get(status.code, "UNSET")


operation_role = _OPERATION_ROLES.get
"""The role a `gen_ai.operation.name` gives, `None` for operations that play no role."""


def classify_role(attributes: dict[str, Any], name: Any) -> SpanRole:
    operation = attributes.get("gen_ai.operation.name")
    if type(operation) is str:
        role = _OPERATION_ROLES.get(operation)
        if role is not None:
            return role
    kind = attributes.get("openinference.span.kind")
    if type(kind) is str:
        role = _OPENINFERENCE_ROLES.get(kind.upper())
        if role is not None:
            return role
    traceloop = attributes.get("traceloop.span.kind")
    if type(traceloop) is str:
        role = _TRACELOOP_ROLES.get(traceloop)
        if role is not None:
            return role
    if attributes.get("llm.request.type") in ("chat", "completion"):
        return "llm"
    if type(name) is not str:
        return "other"
    verb = name.split(" ", 1)[0]
    if verb in _OPERATION_ROLES:
        return _OPERATION_ROLES[verb]
    return "other"


def last_user_text(messages: list[Any]) -> str | None:
    """The last user message that carries text (tool results sent back as `user` turns are skipped)."""
    for message in reversed(messages):
        if role_of(message) != "user":
            continue
        content = message.get("content") if isinstance(message, dict) else None
        if type(content) is str and "toolResult" not in content:
            parsed: Any = None  # cannot be a list of toolResult blocks: skip parsing it
        else:
            parsed = maybe_json(content)
        if (
            isinstance(parsed, list)
            and parsed
            and all(isinstance(p, dict) and "toolResult" in p for p in parsed)
        ):
            continue
        text = message_text(message)
        if text:
            return text
    return None


@dataclass(frozen=True, slots=True)
class _MessageAttributes:
    """Where a span's attributes may hold its input or output messages, in lookup order."""

    whole: tuple[str, ...]
    """Attributes holding a whole message list (JSON text or a list)."""
    indexed: tuple[str, ...]
    """Prefixes of flattened `<prefix>.<i>.message.*` attributes."""
    plain: tuple[str, ...]
    """Attributes holding a plain value (last resort)."""


_INPUT_ATTRIBUTES = _MessageAttributes(
    whole=("gen_ai.input.messages", "gen_ai.task.input"),
    indexed=("llm.input_messages", "gen_ai.prompt"),
    plain=("input.value", "traceloop.entity.input"),
)
_OUTPUT_ATTRIBUTES = _MessageAttributes(
    whole=("gen_ai.output.messages", "gen_ai.task.output"),
    indexed=("llm.output_messages", "gen_ai.completion"),
    plain=("output.value", "traceloop.entity.output"),
)


def _attribute_messages(
    attrs: dict[str, Any], where: _MessageAttributes, *, indexed_role: str | None = None
) -> list[Any]:
    """Messages from span attributes, first hit wins (reference §2.3 lookup order)."""
    for key in where.whole:
        messages = messages_of(attrs.get(key))
        if messages:
            return messages
    for prefix in where.indexed:
        messages = indexed_messages(attrs, prefix)
        if messages:
            if indexed_role is None:
                return messages
            return [{"role": m.get("role") or indexed_role, **m} for m in messages]
    for key in where.plain:
        messages = messages_of(attrs.get(key))
        if messages:
            return messages
    return []
