import pytest

from batcheval.traces.content import as_json_text, as_text, indexed_messages, messages_of, role_of


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        ('[{"text": "a"}, {"text": "b"}]', "a\nb"),
        ({"message": '[{"text": "hi"}]', "finish_reason": "end_turn"}, "hi"),
        ({"content": {"content": "x"}}, "x"),
        ({"no": "text"}, None),
        ('{"not": "text"}', '{"not": "text"}'),
        (None, None),
        ([], None),
    ],
)
def test_as_text_reads_the_common_content_shapes(value, text):
    assert as_text(value) == text


def test_messages_and_roles_from_langchain_and_indexed_attributes():
    # Given LangGraph-style input and flattened OpenInference attributes
    graph_input = '{"messages": [["user", "hello"], {"type": "ai", "content": "hi"}]}'
    attrs = {"llm.input_messages.1.message.role": "user", "llm.input_messages.0.message.role": "system"}

    # Then roles normalise and indexes keep their order
    messages = messages_of(graph_input) or []
    assert [role_of(m) for m in messages] == ["user", "assistant"]
    assert [m["role"] for m in indexed_messages(attrs, "llm.input_messages")] == ["system", "user"]


def test_tool_text_keeps_json_and_unwraps_text_blocks():
    assert as_json_text({"a": 1}) == '{"a":1}'
    assert as_json_text('[{"text": "done"}]') == "done"
    assert as_json_text(None) is None
