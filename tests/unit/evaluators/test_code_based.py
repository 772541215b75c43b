import io
import json
import threading
from typing import Any, cast

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from batcheval.evaluators.custom import LambdaCodeEvaluator
from batcheval.evaluators.definitions import parse_definition
from batcheval.evaluators.ground_truth import SessionReferences
from tests.unit.evaluators.builders import call, session, turn
from tests.unit.evaluators.definitions_fixtures import LAMBDA_ARN, code

SPANS = ({"traceId": "t", "spanId": "s", "name": "invoke_agent"},)


def _body(obj) -> StreamingBody:
    raw = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
    return StreamingBody(io.BytesIO(raw), len(raw))


@pytest.fixture
def lambda_client():
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _stub_invoke(stub, payload, **extra):
    stub.add_response(
        "invoke",
        {"StatusCode": 200, "Payload": _body(payload), **extra},
        {"FunctionName": LAMBDA_ARN, "InvocationType": "RequestResponse", "Payload": ANY},
    )


NO_CLIENT: Any = None
"""For evaluators that never reach Lambda."""


def _run(evaluator, sess, refs=None):
    refs = refs or SessionReferences.empty(sess.session_id)
    return [r for t in evaluator.targets(sess) for r in evaluator.evaluate(t, refs)]


def test_event_follows_the_documented_contract():
    # Given a TOOL_CALL code evaluator and ground truth for the session
    evaluator = LambdaCodeEvaluator(parse_definition(code(level="TOOL_CALL")), lambda_client=NO_CLIENT)
    sess = session("s", turn(1, tools=(call("search", 1),)), spans=SPANS)
    refs = SessionReferences("s", assertions=("a",))
    (target,) = evaluator.targets(sess)
    # When the event is built
    event = evaluator.event(target, refs)
    # Then it carries the schema version, ids, level, spans, the target span and the reference inputs
    assert event["schemaVersion"] == "1.0"
    assert event["evaluatorId"] == evaluator.identity.evaluator_id
    assert event["evaluatorName"] == "policy_check"
    assert event["evaluationLevel"] == "TOOL_CALL"
    assert event["evaluationInput"] == {"sessionSpans": list(SPANS)}
    assert event["evaluationTarget"] == {"spanIds": [sess.tool_calls[0].span_id]}
    assert event["evaluationReferenceInputs"] == [
        {"context": {"spanContext": {"sessionId": "s"}}, "assertions": [{"text": "a"}]}
    ]


def test_lambda_verdict_becomes_the_result(lambda_client):
    # Given a Lambda answering a verdict, When evaluated, Then the result carries it and no tokens
    client, stub = lambda_client
    _stub_invoke(stub, {"label": "Pass", "value": 0.9, "explanation": "fine"})
    evaluator = LambdaCodeEvaluator(parse_definition(code()), client)
    (result,) = _run(evaluator, session("s", turn(1), spans=SPANS))
    assert (result.label, result.value, result.explanation) == ("Pass", 0.9, "fine")
    assert result.token_usage is None


def test_lambda_error_response_is_passed_through(lambda_client):
    # Given a Lambda answering errorCode/errorMessage, When evaluated, Then the result carries that error
    client, stub = lambda_client
    _stub_invoke(stub, {"errorCode": "PolicyMissing", "errorMessage": "no policy document"})
    (result,) = _run(
        LambdaCodeEvaluator(parse_definition(code()), client), session("s", turn(1), spans=SPANS)
    )
    assert (result.error_code, result.error_message) == ("PolicyMissing", "no policy document")


def test_function_error_is_that_results_error_only(lambda_client):
    # Given a TRACE evaluator whose Lambda crashes on the first trace and answers on the second
    client, stub = lambda_client
    _stub_invoke(stub, {"errorType": "KeyError", "errorMessage": "'spans'"}, FunctionError="Unhandled")
    _stub_invoke(stub, {"label": "Pass"})
    evaluator = LambdaCodeEvaluator(parse_definition(code(level="TRACE")), client)
    crashed, fine = _run(evaluator, session("s", turn(1), turn(2), spans=SPANS))
    assert crashed.error_code == "LambdaFunctionError"
    assert "KeyError" in crashed.error_message
    assert fine.label == "Pass"


@pytest.mark.parametrize(
    "payload",
    [
        {"value": 1.0},
        {"label": "x", "value": "high"},
        {"label": "x", "value": True},
        {"label": "x", "value": float("nan")},
        {"label": "x", "value": float("inf")},
        ["not", "an", "object"],
    ],
)
def test_malformed_lambda_responses_are_invalid(lambda_client, payload):
    # Given a malformed Lambda response, When evaluated, Then the result is InvalidLambdaResponse
    client, stub = lambda_client
    _stub_invoke(stub, payload)
    (result,) = _run(
        LambdaCodeEvaluator(parse_definition(code()), client), session("s", turn(1), spans=SPANS)
    )
    assert result.error_code == "InvalidLambdaResponse"


def test_invoke_failure_is_an_error_result(lambda_client):
    # Given an invoke that fails, When evaluated, Then the result is LambdaInvokeFailed
    client, stub = lambda_client
    stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found")
    (result,) = _run(
        LambdaCodeEvaluator(parse_definition(code()), client), session("s", turn(1), spans=SPANS)
    )
    assert result.error_code == "LambdaInvokeFailed"
    assert "Function not found" in result.error_message


def test_session_without_raw_spans_is_not_sent():
    # Given a session without raw spans, When evaluated, Then no Lambda call and NoSpansToEvaluate
    (result,) = _run(
        LambdaCodeEvaluator(parse_definition(code()), lambda_client=NO_CLIENT), session("s", turn(1))
    )
    assert result.error_code == "NoSpansToEvaluate"


class _HangingClient:
    def __init__(self) -> None:
        self.release = threading.Event()

    def invoke(self, **_kwargs):
        self.release.wait(5)
        return {"StatusCode": 200, "Payload": _body({"label": "late"})}


def test_timeout_is_honoured():
    # Given a Lambda that does not answer within the definition's 1 s timeout
    client = _HangingClient()
    evaluator = LambdaCodeEvaluator(parse_definition(code(timeout=1)), cast(Any, client))
    try:
        (result,) = _run(evaluator, session("s", turn(1), spans=SPANS))
    finally:
        client.release.set()
    # Then the result is a timeout error, not a late verdict
    assert result.error_code == "LambdaTimeout"
    assert result.label is None


def test_event_targets_the_trace_at_trace_level_and_nothing_at_session_level():
    # Given a two-turn session with raw spans
    sess = session("s", turn(1), turn(2), spans=SPANS)
    refs = SessionReferences.empty("s")
    trace_level = LambdaCodeEvaluator(parse_definition(code(level="TRACE")), lambda_client=NO_CLIENT)
    session_level = LambdaCodeEvaluator(parse_definition(code(level="SESSION")), lambda_client=NO_CLIENT)
    # When events are built, Then each TRACE event names its own trace and the SESSION event none
    events = [trace_level.event(t, refs) for t in trace_level.targets(sess)]
    assert [e["evaluationTarget"] for e in events] == [{"traceIds": [t.trace_id]} for t in sess.turns]
    (session_event,) = [session_level.event(t, refs) for t in session_level.targets(sess)]
    assert "evaluationTarget" not in session_event
