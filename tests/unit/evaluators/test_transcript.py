import json

from batcheval.evaluators.transcript import TranscriptLimits, render_context, render_session, truncate
from tests.unit.evaluators.builders import call, session, turn


def test_truncate_marks_how_much_was_cut():
    # Given long and short text, When truncated, Then the cut is marked with its size
    assert truncate("x" * 12_350, 5) == "xxxxx…[truncated 12,345 chars]"
    assert truncate("short", 10) == "short"


def test_long_tool_outputs_are_truncated_visibly_and_raw_spans_never_appear():
    # Given a session whose tool returned 20k characters and which carries raw span documents
    big = "y" * 20_000
    sess = session("s", turn(1, tools=(call("fetch", 1, result=big),)), spans=({"spanId": "RAWSPANMARKER"},))
    # When rendered for a judge
    text = render_session(sess)
    # Then the output is cut with a marker and no span JSON leaks in
    assert "…[truncated 18,500 chars]" in text
    assert "RAWSPANMARKER" not in text
    assert "{" not in text.replace("{}", "")


def test_context_drops_oldest_turns_first_and_always_keeps_the_current_turn():
    # Given seven long turns and a small budget, When the last context is rendered, Then old turns are dropped
    # first
    limits = TranscriptLimits(total_chars=300)
    turns = [turn(i, user=f"question {i} " + "z" * 80, response="r" * 50) for i in range(1, 8)]
    sess = session("s", *turns)
    text = render_context(sess, 6, limits)
    assert "earlier turn(s) omitted" in text
    assert "question 7" in text
    assert "question 1 " not in text


def test_context_hides_the_current_response_and_later_tool_calls():
    # Given a turn with two calls, When the context of the second is rendered, Then no response and no later
    # call
    sess = session("s", turn(1, user="q", response="SECRET", tools=(call("a", 1), call("b", 2))))
    text = render_context(sess, 0, tools_before=1)
    assert "SECRET" not in text
    assert "Tool call: a" in text
    assert "Tool call: b" not in text


def test_tool_arguments_are_shown_as_recorded():
    # Given JSON arguments, When rendered, Then they appear as recorded
    sess = session("s", turn(1, tools=(call("a", 1, args=json.dumps({"city": "Oslo"})),)))
    assert '"city": "Oslo"' in render_session(sess)


def test_context_size_is_bounded_whatever_the_session_length():
    # Given a 3,000-turn session
    limits = TranscriptLimits(total_chars=2_000)
    sess = session("s", *(turn(i, user=f"q{i} " + "u" * 150, response="a" * 150) for i in range(1, 3001)))
    # When the last turn's context and the whole session are rendered
    context = render_context(sess, 2999, limits)
    whole = render_session(sess, limits)
    # Then both stay within the budget (plus the omission marker) and keep the newest turns
    assert len(context) <= 2_000 + 40
    assert len(whole) <= 2_000 + 40
    assert "q3000" in context
    assert "q2999" in context
    assert "earlier turn(s) omitted]" in whole
