import pytest

from batcheval.errors import ValidationError
from batcheval.evaluators.base import Target
from batcheval.evaluators.ground_truth import parse_ground_truth
from tests.unit.evaluators.builders import session, turn


def _entry(sid="s", **inline):
    return {"sessionId": sid, "groundTruth": {"inline": inline}}


def test_parses_assertions_trajectory_and_turns():
    # Given a full sessionMetadata entry, When parsed, Then all three kinds of ground truth are kept
    truth = parse_ground_truth(
        [
            _entry(
                assertions=[{"text": "books a flight"}],
                expectedTrajectory={"toolNames": ["search", "book"]},
                turns=[{"input": {"prompt": "hi"}, "expectedResponse": {"text": "hello"}}],
            )
        ]
    )
    entry = truth.sessions["s"]
    assert entry.assertions == ("books a flight",)
    assert entry.expected_tool_names == ("search", "book")
    assert entry.turns[0].prompt == "hi"


def test_invalid_entries_are_rejected_with_the_model_path():
    # Given an entry whose assertions are plain strings instead of EvaluationContent
    with pytest.raises(ValidationError) as exc:
        parse_ground_truth([{"sessionId": "s", "groundTruth": {"inline": {"assertions": ["x"]}}}])
    assert "assertions" in exc.value.message


def test_duplicate_sessions_and_non_lists_are_rejected():
    # Given duplicate sessions or a non-list, When parsed, Then ValidationError
    with pytest.raises(ValidationError):
        parse_ground_truth([_entry(), _entry()])
    with pytest.raises(ValidationError):
        parse_ground_truth({"sessionId": "s"})


def test_turns_match_by_prompt_first_then_by_position():
    # Given a session of three turns and GT turns: one matching turn 3's prompt, one without prompt,
    # one whose prompt matches nothing
    sess = session("s", turn(1, user="first"), turn(2, user="second"), turn(3, user="Third  question"))
    truth = parse_ground_truth(
        [
            _entry(
                turns=[
                    {"input": {"prompt": "third QUESTION"}, "expectedResponse": {"text": "r3"}},
                    {"expectedResponse": {"text": "r2"}},
                    {"input": {"prompt": "nope"}, "expectedResponse": {"text": "rX"}},
                ]
            )
        ]
    )
    refs = truth.references_for(sess)
    # Then turn 0 goes to trace 3 by prompt, turn 1 to trace 2 by position, and turn 2 has no free trace
    assert refs.expected_responses == {sess.turns[2].trace_id: "r3", sess.turns[1].trace_id: "r2"}
    assert refs.unmatched_turns == (2,)


def test_unmatched_prompt_falls_back_to_position_when_that_trace_is_free():
    # Given a prompt matching no trace, When matched, Then the turn goes by position
    sess = session("s", turn(1, user="a"), turn(2, user="b"))
    truth = parse_ground_truth(
        [_entry(turns=[{"input": {"prompt": "zzz"}, "expectedResponse": {"text": "r1"}}])]
    )
    assert truth.references_for(sess).expected_responses == {sess.turns[0].trace_id: "r1"}


def test_ignored_fields_are_scoped_to_the_target():
    # Given assertions and one trace's expected response, When targets ask, Then each sees only its scope
    sess = session("s", turn(1, user="a"), turn(2, user="b"))
    truth = parse_ground_truth(
        [
            _entry(
                assertions=[{"text": "x"}],
                turns=[{"input": {"prompt": "b"}, "expectedResponse": {"text": "r"}}],
            )
        ]
    )
    refs = truth.references_for(sess)
    # The first trace has no expected response; the second has one; the session sees both fields
    assert refs.ignored_fields(Target(sess, "TRACE", turn_index=0), ()) == ("assertions",)
    assert refs.ignored_fields(Target(sess, "TRACE", turn_index=1), ()) == ("expectedResponse", "assertions")
    assert refs.ignored_fields(Target(sess, "SESSION"), ("assertions",)) == ("expectedResponse",)


def test_sessions_without_ground_truth_get_empty_references_and_unknown_ones_are_reported():
    # Given GT for another session only, When referenced, Then nothing applies and the stray id is reported
    truth = parse_ground_truth([_entry("other", assertions=[{"text": "x"}])])
    sess = session("s", turn(1))
    assert truth.references_for(sess).available_fields(Target(sess, "SESSION")) == set()
    assert truth.unknown_sessions([sess]) == ["other"]


def test_reference_inputs_use_the_wire_shape():
    # Given trajectory and response GT, When exported for a Lambda, Then EvaluationReferenceInput items
    sess = session("s", turn(1, user="a"))
    truth = parse_ground_truth(
        [
            _entry(
                expectedTrajectory={"toolNames": ["t"]},
                turns=[{"input": {"prompt": "a"}, "expectedResponse": {"text": "r"}}],
            )
        ]
    )
    items = truth.references_for(sess).to_reference_inputs()
    assert items == [
        {"context": {"spanContext": {"sessionId": "s"}}, "expectedTrajectory": {"toolNames": ["t"]}},
        {
            "context": {"spanContext": {"sessionId": "s", "traceId": sess.turns[0].trace_id}},
            "expectedResponse": {"text": "r"},
        },
    ]
