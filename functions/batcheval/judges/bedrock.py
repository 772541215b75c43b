"""Bedrock Converse judge: structured output through a forced tool call.

The request's `output_schema` becomes the input schema of one tool and `toolChoice` forces the model
to call it, so the answer is the tool's input object. Some models on Bedrock reject a forced tool
choice (a ValidationException naming toolChoice); for those the judge switches that model id, once
and for the life of the judge, to `toolChoice: auto` with an instruction to call the tool, and as a
last resort parses a JSON object from the reply text.

The client must be built with botocore retries off (`AwsClients.client("bedrock-runtime",
total_max_attempts=1)`): `RetryingJudge` is the single retry layer, and the errors below say which
failures it may retry.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Literal, cast

import msgspec
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)

from batcheval.errors import JudgeError
from batcheval.judges.base import JudgeRequest, JudgeResponse, TokenUsage
from batcheval.judges.jsonout import extract_json_object

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

ToolChoiceMode = Literal["tool", "any", "auto"]

# Bedrock error code -> (our code, retryable).
_ERRORS: dict[str, tuple[str, bool]] = {
    "ThrottlingException": ("ThrottlingException", True),
    "ServiceUnavailableException": ("JudgeUnavailable", True),
    "InternalServerException": ("JudgeUnavailable", True),
    "ModelNotReadyException": ("JudgeUnavailable", True),
    "ModelTimeoutException": ("ModelTimeout", True),
    "ModelErrorException": ("ModelError", True),
    "ValidationException": ("ValidationException", False),
    "AccessDeniedException": ("AccessDenied", False),
    "ResourceNotFoundException": ("ModelNotFound", False),
}

_AUTO_INSTRUCTION = "\n\nAnswer only by calling the tool `{name}` with your verdict."


class BedrockJudge:
    """A judge on the Bedrock Converse API.

    Args:
        client: a `bedrock-runtime` client (botocore retries off, see module doc).
        model_id: a model id, ARN or inference profile (`us.`/`eu.`/`apac.`/`global.` prefixes work
            as they are; the id is passed through to Converse).
        tool_choice: `tool` forces the output tool (default); `any` forces some tool; `auto` lets
            the model choose and is what models that reject forced choice fall back to.
    """

    def __init__(
        self, client: BedrockRuntimeClient, model_id: str, *, tool_choice: ToolChoiceMode = "tool"
    ) -> None:
        self._client = client
        self.model_id = model_id
        self._tool_choice = tool_choice
        self._auto_models: set[str] = set()
        self._lock = threading.Lock()

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        model_id = request.model_id or self.model_id
        mode = self._mode_for(model_id)
        try:
            response = self._converse(request, model_id, mode)
        except JudgeError as error:
            if mode == "auto" or not _rejects_forced_tool_choice(error):
                raise
            with self._lock:
                self._auto_models.add(model_id)
            response = self._converse(request, model_id, "auto")
        return _parse(response, request, model_id)

    def _mode_for(self, model_id: str) -> ToolChoiceMode:
        with self._lock:
            return "auto" if model_id in self._auto_models else self._tool_choice

    def _converse(self, request: JudgeRequest, model_id: str, mode: ToolChoiceMode) -> dict[str, Any]:
        system = request.system
        if mode == "auto":
            system += _AUTO_INSTRUCTION.format(name=request.output_name)
        choice: dict[str, Any] = {"tool": {"name": request.output_name}} if mode == "tool" else {mode: {}}
        params: dict[str, Any] = {
            "modelId": model_id,
            "system": [{"text": system}],
            "messages": [{"role": "user", "content": [{"text": request.prompt}]}],
            "inferenceConfig": {"maxTokens": request.max_tokens, "temperature": request.temperature},
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": request.output_name,
                            "description": "Submit the verdict. Its input is the whole answer.",
                            "inputSchema": {"json": request.output_schema},
                        }
                    }
                ],
                "toolChoice": choice,
            },
        }
        try:
            result = cast(dict[str, Any], self._client.converse(**params))
        except ClientError as error:
            raise _judge_error(error) from error
        except (ReadTimeoutError, ConnectTimeoutError) as error:
            raise JudgeError("ModelTimeout", f"no response from Bedrock: {error}", retryable=True) from error
        except (EndpointConnectionError, ConnectionClosedError) as error:
            raise JudgeError("JudgeUnavailable", f"cannot reach Bedrock: {error}", retryable=True) from error
        except ParamValidationError as error:
            raise JudgeError("ValidationException", f"invalid Converse request: {error}") from error
        except (NoCredentialsError, NoRegionError) as error:
            raise JudgeError("JudgeNotConfigured", f"Bedrock client not configured: {error}") from error
        except BotoCoreError as error:
            raise JudgeError("JudgeUnavailable", f"Bedrock call failed: {error}", retryable=True) from error
        return result


def _judge_error(error: ClientError) -> JudgeError:
    details = error.response.get("Error", {})
    aws_code = str(details.get("Code", "Unknown"))
    message = str(details.get("Message", "")) or str(error)
    code, retryable = _ERRORS.get(aws_code, (aws_code, False))
    return JudgeError(code, message, retryable=retryable)


def _rejects_forced_tool_choice(error: JudgeError) -> bool:
    text = error.message.lower()
    return error.code == "ValidationException" and ("toolchoice" in text or "tool_choice" in text)


def _parse(response: dict[str, Any], request: JudgeRequest, model_id: str) -> JudgeResponse:
    stop_reason = response.get("stopReason")
    content = response.get("output", {}).get("message", {}).get("content", [])
    texts = [block["text"] for block in content if "text" in block]
    raw_text = "\n".join(texts) or None
    if stop_reason == "max_tokens":
        raise JudgeError(
            "JudgeOutputTruncated",
            f"the model stopped at maxTokens={request.max_tokens} before finishing its verdict",
        )
    if stop_reason in ("guardrail_intervened", "content_filtered"):
        raise JudgeError("ContentFiltered", f"the model's answer was filtered (stopReason={stop_reason})")
    output: dict[str, Any] | None = None
    for block in content:
        tool_use = block.get("toolUse")
        if (
            tool_use
            and tool_use.get("name") == request.output_name
            and isinstance(tool_use.get("input"), dict)
        ):
            output = tool_use["input"]
            break
    if output is None and raw_text is not None:
        output = extract_json_object(raw_text)
    if output is None:
        raise JudgeError(
            "InvalidJudgeOutput",
            f"no call of tool {request.output_name!r} in the reply (stopReason={stop_reason}); "
            f"text: {msgspec.json.encode((raw_text or '')[:200]).decode()}",
        )
    usage = response["usage"]  # required by the Converse model
    return JudgeResponse(
        output=output,
        usage=TokenUsage(int(usage["inputTokens"]), int(usage["outputTokens"])),
        model_id=model_id,
        raw_text=raw_text,
    )
