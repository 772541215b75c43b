"""Tool results, arguments, ids and errors in every message-part shape (issue 10, point 1).

Each test builds one turn: an agent span, a model call that requests the tool, the tool span, and a
later model call whose input carries the tool's response, as the instrumentations write them.
"""

import json

import pytest

from batcheval.traces.assemble import assemble

TRACE = "a" * 32
CALL_ID = "call_1"
REQUEST = {
    "role": "assistant",
    "parts": [{"type": "tool_call", "id": CALL_ID, "name": "get_weather", "arguments": {"city": "Porto"}}],
}


def _span(
    span_id, start, operation, attributes=None, *, status=None, events=None, scope="strands.telemetry.tracer"
):
    record = {
        "resource": {"attributes": {"service.name": "Agent.DEFAULT"}},
        "scope": {"name": scope},
        "traceId": TRACE,
        "spanId": span_id,
        "name": f"{operation} x",
        "startTimeUnixNano": start,
        "endTimeUnixNano": start + 5,
        "attributes": {"session.id": "s1", "gen_ai.operation.name": operation, **(attributes or {})},
        "status": status or {"code": "UNSET"},
    }
    if events is not None:
        record["events"] = events
    return record


def _turn(tool_attributes=None, *, later_input=None, later_attributes=None, status=None, events=None):
    """Agent → model call requesting the tool → the tool span → a later model call."""
    later = {"gen_ai.input.messages": json.dumps(later_input)} if later_input is not None else {}
    records = [
        _span(
            "1" * 16, 0, "invoke_agent", {"gen_ai.input.messages": '[{"role": "user", "content": "Porto?"}]'}
        ),
        _span("2" * 16, 1, "chat", {"gen_ai.output.messages": json.dumps([REQUEST])}),
        _span(
            "3" * 16,
            10,
            "execute_tool",
            {"gen_ai.tool.name": "get_weather", **(tool_attributes or {})},
            status=status,
            events=events,
        ),
        _span("4" * 16, 20, "chat", {**later, **(later_attributes or {})}),
    ]
    (session,) = assemble(records).sessions
    (call,) = session.tool_calls
    return call


def _response_part(response):
    return {"role": "tool", "parts": [{"type": "tool_call_response", "id": CALL_ID, "response": response}]}


@pytest.mark.parametrize(
    ("response", "result"),
    [
        ("sunny", "sunny"),
        ([{"text": "sunny"}, {"text": "21 °C"}], "sunny\n21 °C"),
        ({"forecast": "sunny"}, '{"forecast":"sunny"}'),
    ],
    ids=["text", "blocks", "object"],
)
def test_a_tool_call_response_on_the_tool_span_is_the_result(response, result):
    # Given a tool span on the latest conventions: its output is a `tool_call_response` part
    output = {"gen_ai.output.messages": json.dumps([_response_part(response)])}
    event = [{"name": "gen_ai.client.inference.operation.details", "timeUnixNano": 12, "attributes": output}]

    # When assembled (as an event of the span, and as an attribute of it)
    from_event = _turn({"gen_ai.tool.call.id": CALL_ID}, events=event)
    from_attribute = _turn({"gen_ai.tool.call.id": CALL_ID, **output})

    # Then the response is the result, whatever its shape
    assert from_event.result == from_attribute.result == result
    assert from_event.status == "success"


LATER_INPUTS = {
    "genai latest part": [REQUEST, _response_part([{"text": "sunny"}])],
    "genai tool message": [REQUEST, {"role": "tool", "id": CALL_ID, "content": "sunny"}],
    "openai chat tool message": [{"role": "tool", "tool_call_id": CALL_ID, "content": "sunny"}],
    "bedrock toolResult block": [
        {"role": "user", "content": [{"toolResult": {"toolUseId": CALL_ID, "content": [{"text": "sunny"}]}}]}
    ],
    "langchain ToolMessage dump": [
        {
            "lc": 1,
            "type": "constructor",
            "id": ["langchain", "schema", "messages", "ToolMessage"],
            "kwargs": {"content": "sunny", "type": "tool", "tool_call_id": CALL_ID},
        }
    ],
    "openai responses item": [{"type": "function_call_output", "call_id": CALL_ID, "output": "sunny"}],
}


@pytest.mark.parametrize("shape", sorted(LATER_INPUTS))
def test_a_result_the_tool_span_lacks_comes_from_the_later_model_call_input(shape):
    # Given a tool span with its id and no result, and a later model call whose input carries the
    # response under that id
    call = _turn({"gen_ai.tool.call.id": CALL_ID}, later_input=LATER_INPUTS[shape])

    # Then the response is the call's result
    assert call.result == "sunny"
    assert call.status == "success"
    assert call.error is None


def test_openinference_flattened_tool_messages_are_read_too():
    # Given the later model call's input as OpenInference's flattened attributes
    flattened = {
        "llm.input_messages.0.message.role": "tool",
        "llm.input_messages.0.message.tool_call_id": CALL_ID,
        "llm.input_messages.0.message.content": "sunny",
    }

    # When assembled
    call = _turn({"gen_ai.tool.call.id": CALL_ID}, later_attributes=flattened)

    # Then the result is read by tool-call id
    assert call.result == "sunny"


def test_id_and_arguments_the_tool_span_lacks_come_from_the_models_request():
    # Given a tool span with neither id nor arguments (only its name), and the model's request
    call = _turn(later_input=[REQUEST, _response_part("sunny")])

    # Then the id is the request's (first unclaimed call of that tool), and so are the arguments
    assert call.tool_call_id == CALL_ID
    assert call.arguments is not None
    assert json.loads(call.arguments) == {"city": "Porto"}
    assert call.result == "sunny"


EXCEPTION = {
    "name": "exception",
    "timeUnixNano": 14,
    "attributes": {"exception.type": "TimeoutError", "exception.message": "from the event"},
}


@pytest.mark.parametrize(
    ("status", "events", "later_input", "error"),
    [
        ({"code": "ERROR", "message": "from the status"}, [EXCEPTION], None, "from the status"),
        (
            {"code": "ERROR", "message": "from the status\nTraceback (most recent call last):\n  File x"},
            None,
            None,
            "from the status",
        ),
        ({"code": "ERROR"}, [EXCEPTION], None, "from the event"),
        (
            {"code": "ERROR"},
            None,
            [_response_part({"error": "from the response"})],
            "from the response",
        ),
        (
            None,
            None,
            [_response_part({"status": "error", "content": "refused"})],
            "refused",
        ),
        (
            None,
            None,
            [
                {
                    "role": "user",
                    "content": [
                        {
                            "toolResult": {
                                "toolUseId": CALL_ID,
                                "status": "error",
                                "content": [{"text": "refused"}],
                            }
                        }
                    ],
                }
            ],
            "refused",
        ),
    ],
    ids=[
        "status message first",
        "status message without traceback",
        "else the exception event",
        "else the error-shaped response",
        "an unset status with an error-shaped response",
        "a Bedrock toolResult with status error",
    ],
)
def test_errors_come_from_status_then_exception_then_an_error_shaped_response(
    status, events, later_input, error
):
    # Given a failed tool call recorded one way or another
    call = _turn({"gen_ai.tool.call.id": CALL_ID}, status=status, events=events, later_input=later_input)

    # Then it is an error, with the first recorded reason
    assert call.status == "error"
    assert call.error == error
