"""Turning the many shapes instrumentations give message content into plain text.

Content arrives as plain strings, JSON text of Bedrock-style blocks (`[{"text": "..."}]`), lists of
blocks, `{"content": ...}` / `{"message": ...}` wrappers (ADOT event records), LangChain message dicts
(`{"type": "human", "content": ...}`) or `[role, text]` pairs. The helpers never raise: unknown shapes
give `None` ("not recorded"), never an empty string pretending to be content.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import msgspec

_USER_ROLES = frozenset({"user", "human", "HumanMessage"})
_ASSISTANT_ROLES = frozenset({"assistant", "ai", "AIMessage", "model"})
_SYSTEM_ROLES = frozenset({"system", "SystemMessage"})
_TOOL_ROLES = frozenset({"tool", "ToolMessage", "function"})


def maybe_json(value: Any) -> Any:
    """Parse strings that hold a JSON object or array; anything else is returned unchanged."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return msgspec.json.decode(value)
        except ValueError:  # not JSON (msgspec.DecodeError) or not UTF-8 (UnicodeError)
            return value
    return value


def as_text(value: Any) -> str | None:
    """The readable text of a content value, `None` when there is none."""
    if value is None:
        return None
    if type(value) is str:
        if value[:1] not in ("[", "{"):
            return value
        return _cached_json_text(value) if len(value) <= _CACHED_TEXT_MAX else _json_text(value)
    if isinstance(value, list):
        parts = [text for text in (as_text(part) for part in value) if text]
        return "\n".join(parts) if parts else None
    if isinstance(value, dict):
        for key in ("text", "content", "message", "output", "outputs", "input", "inputs", "result", "json"):
            if key in value:
                text = as_text(value[key])
                if text is not None:
                    return text
        if "toolResult" in value:
            return as_text(value["toolResult"])
        return None
    if isinstance(value, bool | int | float):
        return str(value)
    return None


_CACHED_TEXT_MAX = 4096


def _json_text(value: str) -> str:
    """Text of a JSON-looking string."""
    parsed = maybe_json(value)
    if parsed is value:
        return value
    text = as_text(parsed)
    return value if text is None else text


@lru_cache(maxsize=8192)
def _cached_json_text(value: str) -> str:
    """`_json_text`, cached for short strings (at most 8192 strings of 4 KB held): a conversation repeats the
    same message text in the agent span and in every model call's history, so most lookups hit."""
    return _json_text(value)


def as_json_text(value: Any) -> str | None:
    """Tool arguments/results as text: strings stay as they are, structures become compact JSON.

    Content blocks (`[{"text": "..."}]`, as Strands records tool results) are unwrapped to their text.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value.startswith('[{"text"'):
            blocks = maybe_json(value)
            if isinstance(blocks, list) and all(
                isinstance(b, dict) and len(b) == 1 and "text" in b for b in blocks
            ):
                return "\n".join(str(b["text"]) for b in blocks)
        return value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(b, dict) and len(b) == 1 and "text" in b for b in value)
    ):
        return "\n".join(str(b["text"]) for b in value)
    try:
        return msgspec.json.encode(value).decode()
    except TypeError:
        return str(value)


def role_of(message: Any) -> str | None:
    """The normalised role of one message (`user`, `assistant`, `system`, `tool`)."""
    role: Any = None
    if isinstance(message, dict):
        role = message.get("role") or message.get("type")
        if role == "constructor" or role is None:  # LangChain dump: {"lc": 1, "id": [..., "HumanMessage"]}
            role = None
            if isinstance(message.get("id"), list) and message["id"]:
                role = message["id"][-1]
            if role is None and isinstance(message.get("kwargs"), dict):
                role = message["kwargs"].get("type")
    elif isinstance(message, list | tuple) and len(message) == 2 and isinstance(message[0], str):
        role = message[0]
    if not isinstance(role, str):
        return None
    if role in _USER_ROLES:
        return "user"
    if role in _ASSISTANT_ROLES:
        return "assistant"
    if role in _SYSTEM_ROLES:
        return "system"
    if role in _TOOL_ROLES:
        return "tool"
    return role.lower()


def message_text(message: Any) -> str | None:
    if isinstance(message, dict):
        data = message.get("data")
        if isinstance(data, dict):
            message = data  # LangChain message dump: {"type": "ai", "data": {"content": ...}}
        kwargs = message.get("kwargs")
        if isinstance(kwargs, dict):
            return as_text(kwargs.get("content"))
        if "parts" in message:
            return as_text(message["parts"])
        return as_text(message.get("content"))
    if isinstance(message, list | tuple) and len(message) == 2:
        return as_text(message[1])
    return as_text(message)


def messages_of(value: Any) -> list[Any] | None:
    """A message list from `[...]`, `{"messages": [...]}` or LangGraph's `{"input": {"messages": ...}}`."""
    value = maybe_json(value)
    if isinstance(value, list):
        # LangGraph may nest one more level: [[msg, msg]]
        if len(value) == 1 and isinstance(value[0], list) and value[0] and not isinstance(value[0][0], str):
            return value[0]
        return value
    if isinstance(value, dict):
        for key in ("messages", "input", "inputs", "output", "outputs"):
            inner = value.get(key)
            if isinstance(inner, list | dict):
                found = messages_of(inner)
                if found is not None:
                    return found
    return None


def first_with_role(messages: list[Any] | None, role: str) -> str | None:
    for message in messages or ():
        if role_of(message) == role:
            text = message_text(message)
            if text:
                return text
    return None


def last_with_role(messages: list[Any] | None, role: str) -> str | None:
    for message in reversed(messages or ()):
        if role_of(message) == role:
            text = message_text(message)
            if text:
                return text
    return None


def indexed_messages(attributes: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Rebuild `prefix.N.role` / `prefix.N.content` flattened attributes into a message list.

    Used for traceloop's `gen_ai.prompt.N.*` / `gen_ai.completion.N.*` and OpenInference's
    `llm.input_messages.N.message.*` / `llm.output_messages.N.message.*`.
    """
    by_index: dict[int, dict[str, Any]] = {}
    start = len(prefix) + 1
    for key, value in attributes.items():
        if not key.startswith(prefix) or len(key) <= start or key[start - 1] != ".":
            continue
        index_text, _, field_name = key[start:].partition(".")
        if not index_text.isdigit():
            continue
        field_name = field_name.removeprefix("message.")
        by_index.setdefault(int(index_text), {})[field_name] = value
    return [by_index[i] for i in sorted(by_index)]


_PART_TYPES = frozenset({"text", "tool_call", "tool_call_response", "reasoning", "blob", "uri", "file"})


def _is_part(value: Any) -> bool:
    """A GenAI message part (`{"type": "text", "content": ...}`), which `role_of` would take for a role."""
    return isinstance(value, dict) and "role" not in value and value.get("type") in _PART_TYPES


def expand_wrapped(messages: list[Any]) -> list[Any]:
    """Replace messages whose content is itself a dumped message container with its messages.

    ADOT's split mode turns OpenInference `input.value` / `output.value` into one message whose
    content is that JSON text (`{"messages": [...]}`): the conversation is inside it.
    """
    if not any(
        isinstance(m, dict) and isinstance(m.get("content"), str) and m["content"][:1] in "[{"
        for m in messages
    ):
        return messages
    expanded: list[Any] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        inner = messages_of(content) if isinstance(content, str) and content[:1] in ("[", "{") else None
        if inner and all(role_of(m) is not None and not _is_part(m) for m in inner):
            expanded.extend(inner)
        else:
            expanded.append(message)
    return expanded


class ToolResponse(NamedTuple):
    """A tool's result as a message carries it: the tool-call id, the content as recorded (text,
    blocks or an object) and whether the response itself says the call failed."""

    call_id: str | None
    content: Any
    is_error: bool


class ToolRequest(NamedTuple):
    """A tool call a model asked for: the tool-call id, the tool's name and the arguments as recorded."""

    call_id: str | None
    name: str | None
    arguments: Any


def _id(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and value != "" else None


def error_shaped(value: Any) -> bool:
    """A response that says the call failed: `{"status": "error"}` (Bedrock toolResult, LangChain
    ToolMessage), MCP's `{"isError": true}` or an `{"error": ...}` object."""
    value = maybe_json(value) if isinstance(value, str) and value[:1] == "{" else value
    if not isinstance(value, dict):
        return False
    return value.get("status") == "error" or value.get("isError") is True or bool(value.get("error"))


def error_text(response: str) -> str:
    """The reason an error-shaped response gives (`{"error": "timed out"}` → "timed out"), else its text."""
    parsed = maybe_json(response)
    reason = parsed.get("error") if isinstance(parsed, dict) else None
    if reason and not isinstance(reason, bool):
        return as_text(reason) or as_json_text(reason) or response
    return as_text(response) or response


def tool_responses(message: Any) -> list[ToolResponse]:
    """The tool results one message carries, in every shape the conventions write them:

    * GenAI (latest): a `tool_call_response` part, `response` as text, a list of blocks or an object;
    * GenAI (older) / OpenAI chat / OpenInference: a `tool`-role message with `tool_call_id` (or `id`)
      and `content`; LangChain ToolMessage dumps (`{"type": "tool", "data": ...}`, `{"lc": 1, ...}`);
    * Bedrock / Strands content blocks: `{"toolResult": {"toolUseId", "status", "content"}}`;
    * OpenAI Responses items: `{"type": "function_call_output", "call_id", "output"}`.
    """
    if not isinstance(message, dict):
        return []
    found: list[ToolResponse] = []
    parts = message.get("parts")
    if isinstance(parts, list):
        for part in parts:
            if isinstance(part, dict) and part.get("type") == "tool_call_response":
                response = part.get("response", part.get("result"))
                found.append(ToolResponse(_id(part.get("id")), response, error_shaped(response)))
        return found
    if message.get("type") == "function_call_output":
        output = message.get("output")
        return [ToolResponse(_id(message.get("call_id")), output, error_shaped(output))]
    fields = message
    for key in ("data", "kwargs"):  # LangChain message dumps
        if isinstance(message.get(key), dict):
            fields = message[key]
            break
    content = fields.get("content")
    if role_of(message) == "tool" or fields.get("type") == "tool":
        call_id = _id(fields.get("tool_call_id")) or _id(fields.get("id"))
        is_error = fields.get("status") == "error" or error_shaped(content)
        return [ToolResponse(call_id, content, is_error)]
    blocks = maybe_json(content) if isinstance(content, str) and '"toolResult"' in content else content
    if isinstance(blocks, list):
        for block in blocks:
            result = block.get("toolResult") if isinstance(block, dict) else None
            if isinstance(result, dict):
                is_error = result.get("status") == "error"
                found.append(ToolResponse(_id(result.get("toolUseId")), result.get("content"), is_error))
    return found


def tool_requests(message: Any) -> list[ToolRequest]:
    """The tool calls one (assistant) message asks for: GenAI `tool_call` parts, OpenAI chat
    `tool_calls`, LangChain `tool_calls` (`args`), Bedrock `toolUse` blocks, OpenAI Responses
    `function_call` items."""
    if not isinstance(message, dict):
        return []
    found: list[ToolRequest] = []
    parts = message.get("parts")
    if isinstance(parts, list):
        for part in parts:
            if isinstance(part, dict) and part.get("type") == "tool_call":
                found.append(ToolRequest(_id(part.get("id")), _id(part.get("name")), part.get("arguments")))
        return found
    if message.get("type") == "function_call":
        return [ToolRequest(_id(message.get("call_id")), _id(message.get("name")), message.get("arguments"))]
    fields = message
    for key in ("data", "kwargs"):
        if isinstance(message.get(key), dict):
            fields = message[key]
            break
    calls = fields.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if not isinstance(call, dict):
                continue
            function = call.get("function")
            if isinstance(function, dict):
                found.append(
                    ToolRequest(_id(call.get("id")), _id(function.get("name")), function.get("arguments"))
                )
            else:
                arguments = call.get("args", call.get("arguments"))
                found.append(ToolRequest(_id(call.get("id")), _id(call.get("name")), arguments))
        return found
    content = fields.get("content")
    blocks = maybe_json(content) if isinstance(content, str) and '"toolUse"' in content else content
    if isinstance(blocks, list):
        for block in blocks:
            use = block.get("toolUse") if isinstance(block, dict) else None
            if isinstance(use, dict):
                found.append(ToolRequest(_id(use.get("toolUseId")), _id(use.get("name")), use.get("input")))
    return found
