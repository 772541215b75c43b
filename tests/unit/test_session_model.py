from batcheval.traces.model import ModelCall, Session, ToolCall, Turn


def test_session_times_and_tool_calls_come_from_turns():
    # Given a session with two turns, one of them with a tool call
    tool = ToolCall(name="search", span_id="a" * 16, start_time_ns=1_000_000, end_time_ns=3_500_000)
    first = Turn(trace_id="1" * 32, span_id="b" * 16, tool_calls=(tool,), start_time_ns=10, end_time_ns=20)
    second = Turn(trace_id="2" * 32, span_id="c" * 16, start_time_ns=30, end_time_ns=None)
    session = Session(session_id="s1", turns=(first, second))

    # When reading the derived views
    # Then they span the turns, and a missing end is "not recorded", not zero
    assert session.start_time_ns == 10
    assert session.end_time_ns == 20
    assert session.tool_calls == (tool,)
    assert tool.latency_ms == 2.5
    assert second.latency_ms is None
    assert ModelCall(span_id="d" * 16).latency_ms is None
