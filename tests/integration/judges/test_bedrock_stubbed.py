"""BedrockJudge against a real bedrock-runtime client whose requests botocore's Stubber validates."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from batcheval.errors import JudgeError
from batcheval.judges.base import JudgeRequest
from batcheval.judges.bedrock import BedrockJudge
from batcheval.judges.retry import RetryingJudge, RetryPolicy

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["Yes", "No"]}, "reasoning": {"type": "string"}},
    "required": ["label", "reasoning"],
}
REQUEST = JudgeRequest(
    system="You grade answers.", prompt="Q: 2+2? A: 4", output_schema=SCHEMA, max_tokens=300
)


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _tool_reply(output: dict[str, Any], *, stop: str = "tool_use", text: str | None = None) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"text": text}] if text else []
    content.append({"toolUse": {"toolUseId": "t1", "name": "submit_verdict", "input": output}})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": 812, "outputTokens": 45, "totalTokens": 857},
        "metrics": {"latencyMs": 900},
    }


def _expected_params(choice: dict[str, Any], system: str = REQUEST.system) -> dict[str, Any]:
    return {
        "modelId": MODEL,
        "system": [{"text": system}],
        "messages": [{"role": "user", "content": [{"text": REQUEST.prompt}]}],
        "inferenceConfig": {"maxTokens": 300, "temperature": 0.0},
        "toolConfig": {
            "tools": [
                {"toolSpec": {"name": "submit_verdict", "description": ANY, "inputSchema": {"json": SCHEMA}}}
            ],
            "toolChoice": choice,
        },
    }


def test_forced_tool_call_returns_tool_input_and_usage(client):
    # Given Bedrock answers through the forced output tool
    judge = BedrockJudge(client, MODEL)
    with Stubber(client) as stub:
        stub.add_response(
            "converse",
            _tool_reply({"label": "Yes", "reasoning": "correct"}, text="Let me judge."),
            _expected_params({"tool": {"name": "submit_verdict"}}),
        )
        # When the judge is asked
        response = judge.judge(REQUEST)
        stub.assert_no_pending_responses()
    # Then the output is the tool input, with the reported usage and the profile id
    assert response.output == {"label": "Yes", "reasoning": "correct"}
    assert (response.usage.input_tokens, response.usage.output_tokens) == (812, 45)
    assert response.model_id == MODEL
    assert response.raw_text == "Let me judge."


def test_throttling_then_success_is_retried(client):
    # Given one ThrottlingException and then an answer
    sleeps: list[float] = []

    class Clock:
        def now(self) -> float:
            return sum(sleeps)

        def sleep(self, seconds: float) -> None:
            sleeps.append(seconds)

    judge = RetryingJudge(BedrockJudge(client, MODEL), RetryPolicy(base_delay_s=2.0), clock=Clock())
    with Stubber(client) as stub:
        stub.add_client_error("converse", "ThrottlingException", "Too many tokens", http_status_code=429)
        stub.add_response("converse", _tool_reply({"label": "No", "reasoning": "wrong"}))
        # When the judge is asked
        response = judge.judge(REQUEST)
    # Then it waited once (full jitter within the first backoff step) and returned the answer
    assert response.output["label"] == "No"
    assert len(sleeps) == 1
    assert 0.0 <= sleeps[0] <= 2.0


def test_validation_exception_is_not_retried(client):
    # Given Bedrock rejects the request as invalid
    judge = RetryingJudge(BedrockJudge(client, MODEL), RetryPolicy(), clock=_NoSleep())
    with Stubber(client) as stub:
        stub.add_client_error("converse", "ValidationException", "maxTokens too large", http_status_code=400)
        # When / Then the error surfaces at once, non-retryable
        with pytest.raises(JudgeError) as raised:
            judge.judge(REQUEST)
        stub.assert_no_pending_responses()
    assert raised.value.code == "ValidationException"
    assert not raised.value.retryable


def test_model_timeout_is_retryable_and_gives_up_within_budget(client):
    # Given a model that times out on every attempt
    judge = RetryingJudge(BedrockJudge(client, MODEL), RetryPolicy(max_attempts=3), clock=_NoSleep())
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("converse", "ModelTimeoutException", "timed out", http_status_code=408)
        # When the judge is asked
        with pytest.raises(JudgeError) as raised:
            judge.judge(REQUEST)
        stub.assert_no_pending_responses()
    # Then after exactly 3 attempts it gives up as JudgeUnavailable
    assert raised.value.code == "JudgeUnavailable"
    assert "3 attempt" in raised.value.message


def test_reply_without_tool_use_is_invalid_output(client):
    # Given the model answers in prose only
    judge = BedrockJudge(client, MODEL)
    reply = {
        "output": {"message": {"role": "assistant", "content": [{"text": "I think it is fine."}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 1},
    }
    with Stubber(client) as stub:
        stub.add_response("converse", reply)
        # When / Then no score is invented
        with pytest.raises(JudgeError) as raised:
            judge.judge(REQUEST)
    assert raised.value.code == "InvalidJudgeOutput"


def test_stop_reason_max_tokens_is_truncated_output(client):
    # Given the model ran out of maxTokens mid-verdict
    judge = BedrockJudge(client, MODEL)
    with Stubber(client) as stub:
        stub.add_response("converse", _tool_reply({"label": "Ye"}, stop="max_tokens"))
        # When / Then the partial verdict is not used
        with pytest.raises(JudgeError) as raised:
            judge.judge(REQUEST)
    assert raised.value.code == "JudgeOutputTruncated"


def test_model_rejecting_forced_tool_choice_falls_back_to_auto_once(client):
    # Given a model that rejects toolChoice.tool
    model = "meta.llama3-70b-instruct-v1:0"
    judge = BedrockJudge(client, MODEL)
    request = JudgeRequest(
        system=REQUEST.system, prompt=REQUEST.prompt, output_schema=SCHEMA, max_tokens=300, model_id=model
    )
    auto_system = REQUEST.system + "\n\nAnswer only by calling the tool `submit_verdict` with your verdict."
    with Stubber(client) as stub:
        stub.add_client_error(
            "converse",
            "ValidationException",
            "This model doesn't support the toolConfig.toolChoice.tool field.",
        )
        stub.add_response(
            "converse",
            _tool_reply({"label": "Yes", "reasoning": "r"}),
            {**_expected_params({"auto": {}}, auto_system), "modelId": model},
        )
        # And a second call goes straight to auto
        stub.add_response(
            "converse",
            {
                "output": {
                    "message": {"role": "assistant", "content": [{"text": '```json\n{"label": "No"}\n```'}]}
                },
                "stopReason": "end_turn",
                "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
                "metrics": {"latencyMs": 1},
            },
            {**_expected_params({"auto": {}}, auto_system), "modelId": model},
        )
        # When the judge is asked twice
        first = judge.judge(request)
        second = judge.judge(request)
        stub.assert_no_pending_responses()
    # Then both answers are read (the second from the JSON in its text)
    assert first.output["label"] == "Yes"
    assert second.output == {"label": "No"}
    assert first.model_id == model


def test_request_for_inference_profile_id_validates_against_model(client):
    # Given a global cross-region inference profile id
    model = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    judge = BedrockJudge(client, model)
    with Stubber(client) as stub:
        stub.add_response(
            "converse",
            _tool_reply({"label": "Yes", "reasoning": "r"}),
            {**_expected_params({"tool": {"name": "submit_verdict"}}), "modelId": model},
        )
        # When the judge is asked, Then the id passes the model's pattern and is used as is
        assert judge.judge(REQUEST).model_id == model


class _NoSleep:
    def now(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        pass


def test_request_the_model_rejects_client_side_is_a_judge_error(client):
    # Given a request botocore's parameter validation rejects (maxTokens must be an integer)
    judge = BedrockJudge(client, MODEL)
    bad = JudgeRequest(system="s", prompt="p", output_schema=SCHEMA, max_tokens="many")  # type: ignore[arg-type]
    # When / Then it becomes a non-retryable JudgeError for that one result, not a crash
    # (validation fails before anything is sent, so no Stubber is needed: its hook runs first)
    with pytest.raises(JudgeError) as raised:
        judge.judge(bad)
    assert raised.value.code == "ValidationException"
    assert not raised.value.retryable
