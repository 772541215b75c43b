"""Spans recorded from the real libraries (tests/fixtures/spans/record_*.py) parse as hand-checked here.

Every recording runs the same script: Strands on the older and the latest GenAI conventions;
LangGraph and the OpenAI Agents SDK with OpenInference (its own conventions, and with
OPENINFERENCE_ENABLE_GENAI_SEMCONV the latest GenAI ones beside them) and with OpenLLMetry (latest
GenAI conventions); each also in split mode through ADOT's LLOHandler. Session 1 asks
for Lisbon (one tool call), then Porto (the tool fails once and is retried); session 2 says hi.
"""

import json
from pathlib import Path

import pytest

from batcheval.traces.files import load_sessions

FIXTURES = Path(__file__).parents[2] / "fixtures" / "spans"
TIMED_OUT = "weather service timed out"
STRANDS = ("strands-session-1", "strands-session-2", "WeatherAgent.DEFAULT", "scripted-model-v1", TIMED_OUT)
# the LangChain fake chat model names its model only in the AIMessage's response_metadata, which
# OpenInference records (output.value) and OpenLLMetry does not (it writes "unknown"); the error is the
# span's status message (OpenInference writes the exception's repr there, OpenLLMetry its message)
LANGGRAPH = ("langgraph-session-1", "langgraph-session-2", "WeatherGraph.DEFAULT", None, TIMED_OUT)
LANGGRAPH_OPENINFERENCE = (*LANGGRAPH[:3], "fake-chat-model-v1", f"RuntimeError('{TIMED_OUT}')")
# the SDK redacts tool errors in its traces
REDACTED = "'tool_name': 'get_weather', 'error': 'Tool execution failed. Error details are redacted.'"
OPENAI_AGENTS = (
    "openai-agents-session-1",
    "openai-agents-session-2",
    "WeatherOpenAIAgent.DEFAULT",
    "scripted-model-v1",
    f"Error running tool (non-fatal): {{{REDACTED}}}",
)
OPENAI_AGENTS_OPENLLMETRY = (
    *OPENAI_AGENTS[:4],
    f"{{'message': 'Error running tool (non-fatal)', 'data': {{{REDACTED}}}}}",
)
RECORDINGS = {
    "strands/unified.jsonl": STRANDS,
    "strands/latest_semconv.jsonl": STRANDS,
    "strands/split.jsonl": STRANDS,
    "strands/latest_semconv_split.jsonl": STRANDS,
    "langgraph/openinference.jsonl": LANGGRAPH_OPENINFERENCE,
    "langgraph/opentelemetry.jsonl": LANGGRAPH,
    "langgraph/split.jsonl": LANGGRAPH_OPENINFERENCE,
    "langgraph/openinference_genai.jsonl": LANGGRAPH_OPENINFERENCE,
    "langgraph/openinference_genai_split.jsonl": LANGGRAPH_OPENINFERENCE,
    "openai_agents/openinference.jsonl": OPENAI_AGENTS,
    "openai_agents/openinference_genai.jsonl": OPENAI_AGENTS,
    "openai_agents/opentelemetry.jsonl": OPENAI_AGENTS_OPENLLMETRY,
    "openai_agents/split.jsonl": OPENAI_AGENTS,
    "openai_agents/opentelemetry_split.jsonl": OPENAI_AGENTS_OPENLLMETRY,
}


@pytest.mark.parametrize("fixture", sorted(RECORDINGS))
def test_recorded_sessions_parse_into_the_scripted_conversation(fixture):
    first_id, second_id, service, model, tool_error = RECORDINGS[fixture]

    # Given spans recorded from the instrumented library, When loaded
    load = load_sessions(FIXTURES / fixture)

    # Then nothing is skipped and both sessions are there in time order
    assert load.skipped == []
    assert [s.session_id for s in load.sessions] == [first_id, second_id]
    first, second = load.sessions
    assert first.service_name == service
    assert first.errors == ()
    assert second.errors == ()

    # And each turn has its prompt, response and system prompt
    assert [t.user_input for t in first.turns] == ["What's the weather in Lisbon?", "And in Porto?"]
    assert [(t.agent_response or "").strip() for t in first.turns] == [
        "It is sunny in Lisbon, 21 °C.",
        "After a retry: sunny in Porto, 21 °C.",
    ]
    assert first.turns[0].system_prompt == "You are a weather assistant. Always use get_weather."
    assert [t.user_input for t in second.turns] == ["Hi there"]
    assert second.turns[0].tool_calls == ()

    # And the tool calls carry name, arguments, result, status, error and latency
    lisbon, porto_failed, porto = first.tool_calls
    assert porto.result is not None
    assert porto_failed.result is not None, "the failed call's response is recorded in every fixture"
    assert [c.name for c in first.tool_calls] == ["get_weather"] * 3
    assert [c.status for c in first.tool_calls] == ["success", "error", "success"]
    assert lisbon.arguments is not None
    assert json.loads(lisbon.arguments) == {"city": "Lisbon"}
    assert lisbon.result is not None
    assert '"forecast": "sunny"' in lisbon.result
    assert porto_failed.error == tool_error
    ids = [c.tool_call_id or "" for c in first.tool_calls]
    assert [i.split("_")[-1] for i in ids] == ["lisbon1", "porto1", "porto2"]
    assert all(c.latency_ms is not None and c.latency_ms >= 0 for c in first.tool_calls)
    assert len(first.turns[1].errors) == 1
    assert first.turns[1].errors[0].endswith(f": {tool_error}")
    assert "get_weather" in first.turns[1].errors[0]

    # And the model calls carry their token usage (5 scripted replies in session 1)
    calls = [m for t in first.turns for m in t.model_calls]
    assert [(m.input_tokens, m.output_tokens) for m in calls] == [
        (110, 20),
        (130, 20),
        (150, 20),
        (170, 20),
        (190, 20),
    ]
    assert all(m.model == model for m in calls)
