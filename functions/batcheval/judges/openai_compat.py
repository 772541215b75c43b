"""OpenAI-compatible Chat Completions judge (Ollama, vLLM, llama.cpp server, LM Studio, OpenAI).

Structured output, in order of preference (`output_mode`):
1. `tools` (default): one function whose parameters are the output schema, forced with
   `tool_choice: {"type": "function", ...}`; the answer is the call's arguments.
2. `json_schema`: `response_format: {"type": "json_schema", ...}`; the answer is the message content.
3. `json`: the schema is put in the system prompt and the first JSON object of the content is used.
A server that answers HTTP 400 naming tools / tool_choice (or response_format) makes the judge step
down to the next mode for that model, once, for the life of the judge. Whatever the mode, a reply
without a tool call but with a JSON object in its content is accepted (some servers ignore
tool_choice); a reply with neither is `InvalidJudgeOutput`, never a made-up score.

Plain `urllib.request` (no extra dependency). 429 and 5xx, timeouts and refused connections are
retryable `JudgeError`s (Retry-After kept); `RetryingJudge` does the retrying.
"""

from __future__ import annotations

import email.utils
import json
import math
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Literal

from batcheval.errors import JudgeError
from batcheval.judges.base import JudgeRequest, JudgeResponse, TokenUsage
from batcheval.judges.jsonout import extract_json_object

OutputMode = Literal["tools", "json_schema", "json"]
_NEXT_MODE: dict[OutputMode, OutputMode] = {"tools": "json_schema", "json_schema": "json"}
_MODE_WORDS: dict[OutputMode, tuple[str, ...]] = {
    "tools": ("tool",),
    "json_schema": ("response_format", "json_schema"),
    "json": (),
}
_RETRYABLE_STATUS = {429: "ThrottlingException", 408: "ModelTimeout"}
_FINAL_STATUS = {400: "ValidationException", 401: "AccessDenied", 403: "AccessDenied", 404: "ModelNotFound"}


class OpenAICompatJudge:
    """A judge on `POST {base_url}/chat/completions`.

    Args:
        base_url: the API root, e.g. `http://localhost:11434/v1` (Ollama), `http://host:8000/v1` (vLLM).
        model: the served model name.
        api_key: sent as `Authorization: Bearer` when given.
        timeout_s: socket timeout per request (connect and each read).
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
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model_id = model
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._default_mode = output_mode
        self._modes: dict[str, OutputMode] = {}
        self._lock = threading.Lock()

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        model = request.model_id or self.model_id
        while True:
            with self._lock:
                mode = self._modes.get(model, self._default_mode)
            try:
                data = self._post(_body(request, model, mode))
            except JudgeError as error:
                next_mode = _NEXT_MODE.get(mode)
                if next_mode is None or not _rejects_mode(error, mode):
                    raise
                with self._lock:
                    self._modes[model] = next_mode
                continue
            return _parse(data, request, model)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        http_request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self._timeout_s) as reply:
                raw = reply.read()
        except urllib.error.HTTPError as error:
            raise _http_error(error) from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise JudgeError("ModelTimeout", f"no response from {self.url}", retryable=True) from error
            raise JudgeError(
                "JudgeUnavailable", f"cannot reach {self.url}: {error.reason}", retryable=True
            ) from error
        except TimeoutError as error:
            raise JudgeError("ModelTimeout", f"no response from {self.url}", retryable=True) from error
        except OSError as error:
            raise JudgeError(
                "JudgeUnavailable", f"connection to {self.url} failed: {error}", retryable=True
            ) from error
        try:
            data = json.loads(raw)
        except ValueError as error:
            raise JudgeError("JudgeUnavailable", f"non-JSON reply from {self.url}", retryable=True) from error
        if not isinstance(data, dict):
            raise JudgeError("JudgeUnavailable", f"unexpected reply from {self.url}", retryable=True)
        return data


def _body(request: JudgeRequest, model: str, mode: OutputMode) -> dict[str, Any]:
    system = request.system
    if mode == "json":
        system += (
            "\n\nReply with only one JSON object that matches this JSON schema, no other text:\n"
            + json.dumps(request.output_schema)
        )
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": request.prompt}],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    if mode == "tools":
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": request.output_name,
                    "description": "Submit the verdict. Its arguments are the whole answer.",
                    "parameters": request.output_schema,
                },
            }
        ]
        body["tool_choice"] = {"type": "function", "function": {"name": request.output_name}}
    elif mode == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": request.output_name, "schema": request.output_schema},
        }
    return body


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


def _http_error(error: urllib.error.HTTPError) -> JudgeError:
    try:
        detail = error.read().decode("utf-8", "replace")[:500]
    except OSError:
        detail = ""
    message = f"HTTP {error.code}: {detail or error.reason}"
    status = error.code
    if status in _RETRYABLE_STATUS:
        return JudgeError(
            _RETRYABLE_STATUS[status],
            message,
            retryable=True,
            retry_after=retry_after_seconds(error.headers.get("Retry-After") if error.headers else None),
        )
    if status >= 500:
        retry_after = retry_after_seconds(error.headers.get("Retry-After") if error.headers else None)
        return JudgeError("JudgeUnavailable", message, retryable=True, retry_after=retry_after)
    return JudgeError(_FINAL_STATUS.get(status, f"HTTP{status}"), message)


def _parse(data: dict[str, Any], request: JudgeRequest, model: str) -> JudgeResponse:
    choices = data.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
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
            f"text: {json.dumps((raw_text or '')[:200])}",
        )
    usage = data.get("usage")
    estimated = not (
        isinstance(usage, dict)
        and _token_count(usage.get("prompt_tokens"))
        and _token_count(usage.get("completion_tokens"))
    )
    if estimated:
        tokens = TokenUsage(
            math.ceil((len(request.system) + len(request.prompt)) / 4),
            math.ceil(len(json.dumps(output)) / 4),
        )
    else:
        assert isinstance(usage, dict)
        tokens = TokenUsage(usage["prompt_tokens"], usage["completion_tokens"])
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
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or function.get("name") != name:
            continue
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            return arguments
        if isinstance(arguments, str):
            try:
                parsed = json.loads(arguments)
            except ValueError:
                return extract_json_object(arguments)
            return parsed if isinstance(parsed, dict) else None
    return None
