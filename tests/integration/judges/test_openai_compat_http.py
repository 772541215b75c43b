"""OpenAICompatJudge against a local HTTP server started by the tests (127.0.0.1, port 0)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import Any

import pytest

from batcheval.errors import JudgeError, ValidationError
from batcheval.judges.base import JudgeRequest
from batcheval.judges.openai_compat import OpenAICompatJudge, retry_after_seconds
from batcheval.judges.retry import RetryingJudge, RetryPolicy

from .conftest import Reply, ScriptedServer

SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
REQUEST = JudgeRequest(system="You grade.", prompt="Q/A here", output_schema=SCHEMA, max_tokens=200)


def completion(
    *, arguments: str | None = None, content: str | None = None, finish: str = "stop", usage: bool = True
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if arguments is not None:
        message["tool_calls"] = [
            {"id": "c1", "type": "function", "function": {"name": "submit_verdict", "arguments": arguments}}
        ]
    body: dict[str, Any] = {
        "id": "x",
        "model": "llama3.1:8b",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 321, "completion_tokens": 12, "total_tokens": 333}
    return body


class RecordingClock:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def now(self) -> float:
        return sum(self.sleeps)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def test_forced_function_call_is_the_answer(server: ScriptedServer):
    # Given a server answering with a call of the output function
    server.add(Reply(body=completion(arguments=json.dumps({"label": "Yes"}))))
    judge = OpenAICompatJudge(server.base_url, "llama3.1:8b", api_key="sk-test")
    # When judged
    response = judge.judge(REQUEST)
    # Then the arguments are the output, usage is the server's, and the request forced the tool
    assert response.output == {"label": "Yes"}
    assert (response.usage.input_tokens, response.usage.output_tokens) == (321, 12)
    assert not response.usage_estimated
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body["tool_choice"] == {"type": "function", "function": {"name": "submit_verdict"}}
    assert sent.body["tools"][0]["function"]["parameters"] == SCHEMA
    assert sent.body["max_tokens"] == 200
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]


def test_429_with_retry_after_is_retried_after_the_hinted_wait(server: ScriptedServer):
    # Given a 429 with Retry-After: 3, then an answer
    server.add(
        Reply(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "3"}),
        Reply(body=completion(arguments='{"label": "No"}')),
    )
    clock = RecordingClock()
    judge = RetryingJudge(
        OpenAICompatJudge(server.base_url, "m"), RetryPolicy(retry_after_jitter_s=0.25), clock=clock
    )
    # When judged
    assert judge.judge(REQUEST).output == {"label": "No"}
    # Then it waited at least the hinted 3 s once
    assert len(clock.sleeps) == 1
    assert 3.0 <= clock.sleeps[0] <= 3.25


def test_503_is_retried_and_persistent_503_gives_up(server: ScriptedServer):
    # Given a server that is unavailable 3 times
    server.add(*[Reply(503, {"error": "loading model"}) for _ in range(3)])
    judge = RetryingJudge(
        OpenAICompatJudge(server.base_url, "m"), RetryPolicy(max_attempts=3), clock=RecordingClock()
    )
    # When judged, Then it gives up as JudgeUnavailable after 3 requests
    with pytest.raises(JudgeError) as raised:
        judge.judge(REQUEST)
    assert raised.value.code == "JudgeUnavailable"
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "code"), [(429, "ThrottlingException"), (408, "ModelTimeout"), (503, "JudgeUnavailable")]
)
def test_retryable_status_carries_retry_after_and_the_sdk_does_not_retry(
    server: ScriptedServer, status: int, code: str
):
    # Given a server answering a retryable status with Retry-After: 3
    server.add(Reply(status, {"error": {"message": "busy"}}, headers={"Retry-After": "3"}))
    # When a bare judge (no RetryingJudge around it) is called
    with pytest.raises(JudgeError) as raised:
        OpenAICompatJudge(server.base_url, "m").judge(REQUEST)
    # Then the SDK's error arrives as a retryable JudgeError with the server's hint, after one request:
    # the SDK does not retry underneath RetryingJudge (max_retries=0)
    assert (raised.value.code, raised.value.retryable, raised.value.retry_after) == (code, True, 3.0)
    assert len(server.requests) == 1
    assert server.requests[0].headers["x-stainless-retry-count"] == "0"


def test_request_carries_the_sdk_timeout(server: ScriptedServer):
    # Given a judge with a 7.5 s timeout
    server.add(Reply(body=completion(arguments='{"label": "Yes"}')))
    # When judged
    OpenAICompatJudge(server.base_url, "m", timeout_s=7.5).judge(REQUEST)
    # Then the SDK applied that timeout to the request (and announces it to the server)
    assert server.requests[0].headers["x-stainless-read-timeout"] == "7.5"


def test_without_a_key_no_authorization_header_is_sent(server: ScriptedServer, monkeypatch):
    # Given no api key, and SDK environment variables that must not leak into the request
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    server.add(Reply(body=completion(arguments='{"label": "Yes"}')))
    # When judged
    OpenAICompatJudge(server.base_url, "m").judge(REQUEST)
    # Then the request carries no credentials and no organization/project of the environment
    sent = server.requests[0].headers
    assert not {"authorization", "openai-organization", "openai-project"} & set(sent)


@pytest.mark.parametrize("body", [b"<html>busy</html>", [1, 2]], ids=["not-json", "not-an-object"])
def test_unreadable_reply_is_retryable_unavailable(server: ScriptedServer, body: Any):
    # Given a 200 whose body is not a JSON object (a proxy's page, a stray array)
    server.add(Reply(body=body))
    # When judged, Then it is a retryable JudgeUnavailable, not a crash
    with pytest.raises(JudgeError) as raised:
        OpenAICompatJudge(server.base_url, "m").judge(REQUEST)
    assert (raised.value.code, raised.value.retryable) == ("JudgeUnavailable", True)


def test_missing_openai_package_names_the_extra(monkeypatch):
    # Given an install without the `openai` extra (the import fails)
    monkeypatch.setitem(sys.modules, "openai", None)
    # When an OpenAI-compatible judge is built, Then the error says what to install
    with pytest.raises(ValidationError, match=r"pip install 'batcheval\[openai\]'"):
        OpenAICompatJudge("http://127.0.0.1:1/v1", "m")


def test_the_sdk_is_loaded_only_when_an_openai_judge_is_built():
    # Given a fresh interpreter (this one has imported openai already)
    script = (
        "import sys; from batcheval.aws import AwsClients; from batcheval.judges.factory import make_judge; "
        "make_judge('bedrock', clients=AwsClients(region='us-east-1'), model_id='m'); "
        "print('openai' in sys.modules)"
    )
    # When the judge factory is imported and a Bedrock judge built
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    # Then the SDK (heavy to import: a cold start cost) was not loaded
    assert done.stdout.strip() == "False"


def test_server_rejecting_tools_falls_back_to_json_schema_then_plain_json(server: ScriptedServer):
    # Given a server that rejects tools, then response_format, then answers in plain text JSON
    server.add(
        Reply(400, {"error": {"message": "tool_choice is not supported"}}),
        Reply(400, {"error": {"message": "response_format json_schema unsupported"}}),
        Reply(body=completion(content='Verdict: {"label": "Yes"}')),
        Reply(body=completion(content='{"label": "No"}')),
    )
    judge = OpenAICompatJudge(server.base_url, "m")
    # When judged twice
    first, second = judge.judge(REQUEST), judge.judge(REQUEST)
    # Then both answers are read, and the second call went straight to the plain-JSON mode
    assert (first.output, second.output) == ({"label": "Yes"}, {"label": "No"})
    bodies = [r.body for r in server.requests]
    assert "tools" in bodies[0]
    assert bodies[1]["response_format"]["type"] == "json_schema"
    assert "response_format" not in bodies[2]
    assert "JSON schema" in bodies[2]["messages"][0]["content"]
    assert "tools" not in bodies[3]
    assert "response_format" not in bodies[3]


def test_other_400_is_not_retried(server: ScriptedServer):
    server.add(Reply(400, {"error": {"message": "max_tokens too large"}}))
    with pytest.raises(JudgeError) as raised:
        RetryingJudge(OpenAICompatJudge(server.base_url, "m"), clock=RecordingClock()).judge(REQUEST)
    assert raised.value.code == "ValidationException"
    assert len(server.requests) == 1


def test_reply_without_answer_is_invalid_output(server: ScriptedServer):
    # Given prose with no JSON and no tool call
    server.add(Reply(body=completion(content="Looks good to me.")))
    # When / Then no score is invented
    with pytest.raises(JudgeError) as raised:
        OpenAICompatJudge(server.base_url, "m").judge(REQUEST)
    assert raised.value.code == "InvalidJudgeOutput"


def test_message_that_is_not_an_object_is_invalid_output(server: ScriptedServer):
    # Given a server whose choice carries a string instead of a message object
    server.add(Reply(body={"choices": [{"index": 0, "message": "Yes", "finish_reason": "stop"}]}))
    # When judged, Then the failure is a JudgeError (an error result), not a crash of the evaluator
    with pytest.raises(JudgeError) as raised:
        OpenAICompatJudge(server.base_url, "m").judge(REQUEST)
    assert raised.value.code == "InvalidJudgeOutput"


@pytest.mark.parametrize("bad", [-5, True, 1.5, "12"])
def test_nonsense_usage_counts_are_estimated_and_flagged(server: ScriptedServer, bad: Any):
    # Given a server reporting a usage count that is not a non-negative integer
    body = completion(arguments='{"label": "Yes"}')
    body["usage"]["prompt_tokens"] = bad
    server.add(Reply(body=body))
    # When judged, Then the counts are estimated (and say so) rather than taken as reported
    response = OpenAICompatJudge(server.base_url, "m").judge(REQUEST)
    assert response.usage_estimated
    assert response.usage.input_tokens > 0


def test_length_stop_is_truncated_output(server: ScriptedServer):
    server.add(Reply(body=completion(arguments='{"lab', finish="length")))
    with pytest.raises(JudgeError) as raised:
        OpenAICompatJudge(server.base_url, "m").judge(REQUEST)
    assert raised.value.code == "JudgeOutputTruncated"


def test_missing_usage_is_estimated_and_flagged(server: ScriptedServer):
    server.add(Reply(body=completion(arguments='{"label": "Yes"}', usage=False)))
    response = OpenAICompatJudge(server.base_url, "m").judge(REQUEST)
    assert response.usage_estimated
    assert response.usage.input_tokens > 0


def test_slow_server_times_out_as_retryable_model_timeout(server: ScriptedServer):
    # Given a server slower than the judge's timeout
    server.add(Reply(body=completion(arguments='{"label": "Yes"}'), delay_s=0.5))
    judge = OpenAICompatJudge(server.base_url, "m", timeout_s=0.1)
    # When / Then the call fails fast and may be retried
    with pytest.raises(JudgeError) as raised:
        judge.judge(REQUEST)
    assert raised.value.code == "ModelTimeout"
    assert raised.value.retryable


def test_refused_connection_is_retryable_unavailable():
    # Given a port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    judge = OpenAICompatJudge(f"http://127.0.0.1:{port}/v1", "m", timeout_s=1)
    with pytest.raises(JudgeError) as raised:
        judge.judge(REQUEST)
    assert raised.value.code == "JudgeUnavailable"
    assert raised.value.retryable


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2026 07:28:10 GMT", now=1792567680.0) == pytest.approx(10.0)
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_429_storm_through_the_whole_stack_feeds_the_limiter_and_ledger(server: ScriptedServer):
    # Given a server that answers 429 twice and then a verdict, behind make_judge's full stack
    from batcheval.judges.accounting import JudgeLedger
    from batcheval.judges.factory import make_judge

    server.add(
        Reply(429, {"error": "slow down"}, headers={"Retry-After": "0"}),
        Reply(429, {"error": "slow down"}, headers={"Retry-After": "0"}),
        Reply(body=completion(arguments='{"label": "Yes"}')),
    )
    ledger = JudgeLedger()
    clock = RecordingClock()
    judge = make_judge(
        f"openai:{server.base_url}",
        model_id="m",
        tokens_per_minute=600_000,
        ledger=ledger,
        clock=clock,
        retry=RetryPolicy(retry_after_jitter_s=0.0),
    )
    # When judged
    assert judge.judge(REQUEST).output == {"label": "Yes"}
    # Then the ledger counts 3 attempts, 2 throttles, 2 retries, and the limiter slowed down
    usage = ledger.to_dict()["m"]
    assert (usage["calls"], usage["throttled"], usage["retries"], usage["succeeded"]) == (3, 2, 2, 1)
    assert (usage["inputTokens"], usage["outputTokens"]) == (321, 12)
    limiter = judge.inner.limiter  # type: ignore[attr-defined]
    status = limiter.status("m")
    assert status["throttles"] == 1  # the second throttle fell inside the cooldown
    assert status["rateTpm"] < 0.9 * 600_000
