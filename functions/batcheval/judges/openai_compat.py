"""OpenAI-compatible Chat Completions judge (Ollama, vLLM, llama.cpp server, LM Studio, OpenAI).

Transport, timeouts, request types and errors are the official `openai` SDK's, an optional extra
(`pip install 'batcheval[openai]'`) imported only when such a judge is built.

Structured output, in order of preference (`output_mode`):
1. `tools` (default): one function whose parameters are the output schema, forced with
   `tool_choice: {"type": "function", ...}`; the answer is the call's arguments.
2. `json_schema`: `response_format: {"type": "json_schema", ...}`; the answer is the message content.
3. `json`: the schema is put in the system prompt and the first JSON object of the content is used.
A server that answers HTTP 400 naming tools / tool_choice (or response_format) makes the judge step
down to the next mode for that model, once, for the life of the judge. Whatever the mode, a reply
without a tool call but with a JSON object in its content is accepted (some servers ignore
tool_choice); a reply with neither is `InvalidJudgeOutput`, never a made-up score.

Retries: one layer, `RetryingJudge` (judges/retry.py), which wraps every backend, stops at the
caller's deadline and counts each attempt in the ledger and the rate limiter. SDK retries underneath
would multiply the attempts (up to 3 requests per attempt) unseen by both, so the SDK client has
`max_retries=0`: 429, 408 and 5xx (Retry-After carried in `JudgeError.retry_after`; the SDK parses it
only privately), timeouts and connection errors become retryable `JudgeError`s.

The reply is read from its wire JSON (`with_raw_response`), not from the SDK's `ChatCompletion`, whose
models coerce what compatible servers get wrong (`"12"` or `true` as a token count) instead of
letting the judge flag it (`usage_estimated`).
"""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from batcheval.errors import JudgeError, ValidationError
from batcheval.judges.base import JudgeRequest, JudgeResponse, TokenUsage
from batcheval.judges.jsonout import extract_json_object

if TYPE_CHECKING:
    from openai import APIStatusError, Omit, OpenAI
    from openai.types.chat import (
        ChatCompletionFunctionToolParam,
        ChatCompletionMessageParam,
        ChatCompletionNamedToolChoiceParam,
    )
    from openai.types.shared_params import ResponseFormatJSONSchema

OutputMode = Literal["tools", "json_schema", "json"]
_NEXT_MODE: dict[OutputMode, OutputMode] = {"tools": "json_schema", "json_schema": "json"}
_MODE_WORDS: dict[OutputMode, tuple[str, ...]] = {
    "tools": ("tool",),
    "json_schema": ("response_format", "json_schema"),
    "json": (),
}
_RETRYABLE_STATUS = {429: "ThrottlingException", 408: "ModelTimeout"}
_FINAL_STATUS = {400: "ValidationException", 401: "AccessDenied", 403: "AccessDenied", 404: "ModelNotFound"}
_NO_KEY = "none"
"""The SDK refuses to build a client without a key; local servers need none. The placeholder is never
sent: the Authorization header is omitted from each request instead."""
_UNSENT_HEADERS = ("OpenAI-Organization", "OpenAI-Project")
"""Headers the SDK fills from OPENAI_ORG_ID / OPENAI_PROJECT_ID: the judge's requests depend on its
arguments only, not on the process environment."""


class OpenAICompatJudge:
    """A judge on `POST {base_url}/chat/completions`, through the `openai` SDK.

    Args:
        base_url: the API root, e.g. `http://localhost:11434/v1` (Ollama), `http://host:8000/v1` (vLLM).
        model: the served model name.
        api_key: sent as `Authorization: Bearer` when given; without it no Authorization header is sent.
        timeout_s: the SDK's timeout per request (connect, each read, each write).

    Raises:
        ValueError: `base_url` is not an http(s) URL.
        ValidationError: the `openai` package (the `openai` extra) is not installed.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        output_mode: OutputMode = "tools",
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        try:
            import openai
        except ImportError as error:
            raise ValidationError(
                "the OpenAI-compatible judge needs the openai package: pip install 'batcheval[openai]' "
                "(a Lambda asset: make lambda-asset EXTRAS=openai)"
            ) from error
        base_url = base_url.rstrip("/")
        self.url = base_url + "/chat/completions"
        self.model_id = model
        self._api_key = api_key
        self._client: OpenAI = openai.OpenAI(
            base_url=base_url, api_key=api_key or _NO_KEY, timeout=timeout_s, max_retries=0
        )
        unsent = _UNSENT_HEADERS if api_key else (*_UNSENT_HEADERS, "Authorization")
        self._headers: Mapping[str, str | Omit] = dict.fromkeys(unsent, openai.omit)
        self._default_mode = output_mode
        self._modes: dict[str, OutputMode] = {}
        self._lock = threading.Lock()

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        model = request.model_id or self.model_id
        while True:
            with self._lock:
                mode = self._modes.get(model, self._default_mode)
            try:
                data = self._complete(request, model, mode)
            except JudgeError as error:
                next_mode = _NEXT_MODE.get(mode)
                if next_mode is None or not _rejects_mode(error, mode):
                    raise
                with self._lock:
                    self._modes[model] = next_mode
                continue
            return _parse(data, request, model)

    def _complete(self, request: JudgeRequest, model: str, mode: OutputMode) -> dict[str, Any]:
        """The server's reply to one Chat Completions request in `mode`, as a JSON object."""
        import openai

        system = request.system
        if mode == "json":
            system += (
                "\n\nReply with only one JSON object that matches this JSON schema, no other text:\n"
                + _dumps(request.output_schema)
            )
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": request.prompt},
        ]
        tools: list[ChatCompletionFunctionToolParam] | Omit = openai.omit
        tool_choice: ChatCompletionNamedToolChoiceParam | Omit = openai.omit
        response_format: ResponseFormatJSONSchema | Omit = openai.omit
        if mode == "tools":
            tools = [
                {
                    "type": "function",
                    "function": {
                        "name": request.output_name,
                        "description": "Submit the verdict. Its arguments are the whole answer.",
                        "parameters": request.output_schema,
                    },
                }
            ]
            tool_choice = {"type": "function", "function": {"name": request.output_name}}
        elif mode == "json_schema":
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": request.output_name, "schema": request.output_schema},
            }
        try:
            reply = self._client.chat.completions.with_raw_response.create(
                model=model,
                messages=messages,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                tools=tools,
                tool_choice=tool_choice,
                response_format=response_format,
                extra_headers=self._headers,
            )
        except openai.APITimeoutError as error:
            raise JudgeError("ModelTimeout", f"no response from {self.url}", retryable=True) from error
        except openai.APIConnectionError as error:
            raise JudgeError(
                "JudgeUnavailable", f"cannot reach {self.url}: {error.__cause__ or error}", retryable=True
            ) from error
        except openai.APIStatusError as error:
            raise _status_error(error) from error
        try:
            data = msgspec.json.decode(reply.content)
        except msgspec.DecodeError as error:
            raise JudgeError("JudgeUnavailable", f"non-JSON reply from {self.url}", retryable=True) from error
        if not isinstance(data, dict):
            raise JudgeError("JudgeUnavailable", f"unexpected reply from {self.url}", retryable=True)
        return data


def _rejects_mode(error: JudgeError, mode: OutputMode) -> bool:
    text = error.message.lower()
    return error.code == "ValidationException" and any(word in text for word in _MODE_WORDS[mode])


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def _status_error(error: APIStatusError) -> JudgeError:
    status = error.status_code
    message = f"HTTP {status}: {error.response.text[:500] or error.response.reason_phrase}"
    if status in _RETRYABLE_STATUS or status >= 500:
        return JudgeError(
            _RETRYABLE_STATUS.get(status, "JudgeUnavailable"),
            message,
            retryable=True,
            retry_after=retry_after_seconds(error.response.headers.get("Retry-After")),
        )
    return JudgeError(_FINAL_STATUS.get(status, f"HTTP{status}"), message)


def _parse(data: dict[str, Any], request: JudgeRequest, model: str) -> JudgeResponse:
    choices = data.get("choices") or []
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise JudgeError("InvalidJudgeOutput", "the reply has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise JudgeError("InvalidJudgeOutput", "the reply's message is not an object")
    content = message.get("content")
    raw_text = content if isinstance(content, str) and content else None
    if choice.get("finish_reason") == "length":
        raise JudgeError(
            "JudgeOutputTruncated",
            f"the model stopped at max_tokens={request.max_tokens} before finishing its verdict",
        )
    output = _tool_arguments(message, request.output_name)
    if output is None and raw_text is not None:
        output = extract_json_object(raw_text)
    if output is None:
        raise JudgeError(
            "InvalidJudgeOutput",
            f"no call of function {request.output_name!r} and no JSON object in the reply; "
            f"text: {_dumps((raw_text or '')[:200])}",
        )
    usage = data.get("usage")
    if (
        isinstance(usage, dict)
        and _token_count(usage.get("prompt_tokens"))
        and _token_count(usage.get("completion_tokens"))
    ):
        tokens = TokenUsage(usage["prompt_tokens"], usage["completion_tokens"])
        estimated = False
    else:
        tokens = TokenUsage(
            math.ceil((len(request.system) + len(request.prompt)) / 4), math.ceil(len(_dumps(output)) / 4)
        )
        estimated = True
    return JudgeResponse(
        output=output,
        usage=tokens,
        model_id=str(data.get("model") or model),
        raw_text=raw_text,
        usage_estimated=estimated,
    )


def _token_count(value: Any) -> bool:
    """A usable reported count: a non-negative int (bool is an int in Python, and not a count)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tool_arguments(message: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The arguments of the first call of function `name`, as a JSON object; None without one."""
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or function.get("name") != name:
            continue
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            return arguments
        if isinstance(arguments, str):
            try:
                parsed = msgspec.json.decode(arguments)
            except msgspec.DecodeError:
                return extract_json_object(arguments)
            return parsed if isinstance(parsed, dict) else None
    return None


def _dumps(value: Any) -> str:
    """JSON text with the standard library's spacing (`{"a": 1}`), for prompts, messages and estimates."""
    return msgspec.json.format(msgspec.json.encode(value), indent=0).decode()
