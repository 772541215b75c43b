"""Evaluators against the real Bedrock Converse judge backend, with requests checked by botocore's Stubber."""

import boto3
import pytest
from botocore.stub import ANY, Stubber

from batcheval.evaluators.factory import EvaluatorFactory
from batcheval.evaluators.report import evaluate_sessions
from batcheval.judges.base import TokenUsage
from batcheval.judges.bedrock import BedrockJudge
from tests.unit.evaluators.builders import call, session, turn

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def _reply(tool_input, stop="tool_use"):
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "tu-1", "name": "submit_verdict", "input": tool_input}}
                ],
            }
        },
        "stopReason": stop,
        "usage": {"inputTokens": 1200, "outputTokens": 45, "totalTokens": 1245},
        "metrics": {"latencyMs": 420},
    }


@pytest.fixture
def bedrock():
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _expect(stub, response, max_tokens=300):
    stub.add_response(
        "converse",
        response,
        {
            "modelId": MODEL,
            "system": ANY,
            "messages": ANY,
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0},
            "toolConfig": ANY,
        },
    )


def test_trace_judge_through_converse_tool_use(bedrock):
    # Given a Converse endpoint that answers each call through the verdict tool
    client, stub = bedrock
    _expect(stub, _reply({"explanation": "Booked as asked.", "label": "Very Helpful"}))
    _expect(stub, _reply({"explanation": "Dodged the question.", "label": "Banana"}))
    factory = EvaluatorFactory(judge=lambda: BedrockJudge(client, MODEL))
    sess = session("s", turn(1, user="Book it"), turn(2, user="And the hotel?"))
    # When Helpfulness runs over two turns (sequentially, so the stubbed replies keep their order)
    report = evaluate_sessions([sess], ["Builtin.Helpfulness"], factory=factory, max_workers=1)
    # Then the first reply is a score with Converse's token usage; the off-protocol one is an error
    first, second = report.results
    assert (first.label, first.value) == ("Very Helpful", 0.833)
    assert first.token_usage == TokenUsage(1200, 45)
    assert second.error_code == "InvalidJudgeOutput"
    assert second.token_usage == TokenUsage(1200, 45)
    assert report.summaries[0].to_wire(extended=False)["statistics"] == {"averageScore": 0.833}


def test_tool_call_judge_and_throttling_error(bedrock):
    # Given a throttled call then an answer, When ToolParameterAccuracy runs, Then an error and a score
    client, stub = bedrock
    stub.add_client_error("converse", "ThrottlingException", "Too many tokens", http_status_code=429)
    _expect(stub, _reply({"explanation": "fine", "label": "Yes"}))
    factory = EvaluatorFactory(judge=lambda: BedrockJudge(client, MODEL))
    sess = session("s", turn(1, tools=(call("search", 1), call("book", 2))))
    report = evaluate_sessions([sess], ["Builtin.ToolParameterAccuracy"], factory=factory, max_workers=1)
    throttled, scored = report.results
    assert throttled.error_code == "ThrottlingException"
    assert throttled.value is None
    assert scored.value == 1.0
    assert scored.context.span_id == sess.tool_calls[1].span_id
    assert report.summaries[0].total_failed == 1


def test_truncated_verdict_is_an_error(bedrock):
    # Given a verdict cut at maxTokens, When judged, Then JudgeOutputTruncated
    client, stub = bedrock
    _expect(stub, _reply({"explanation": "The agent"}, stop="max_tokens"), max_tokens=400)
    factory = EvaluatorFactory(judge=lambda: BedrockJudge(client, MODEL))
    report = evaluate_sessions([session("s", turn(1))], ["Builtin.GoalSuccessRate"], factory=factory)
    assert report.results[0].error_code == "JudgeOutputTruncated"
