import pytest

from batcheval.evaluators.base import targets_at
from batcheval.evaluators.code import any_order, code_evaluator, exact_order, in_order
from batcheval.evaluators.ground_truth import SessionReferences
from batcheval.evaluators.registry import require_spec
from batcheval.traces.model import ModelCall
from tests.unit.evaluators.builders import call, session, turn


def _run(evaluator_id, sess, refs=None):
    evaluator = code_evaluator(require_spec(evaluator_id))
    refs = refs or SessionReferences.empty(sess.session_id)
    return [r for t in evaluator.targets(sess) for r in evaluator.evaluate(t, refs)]


@pytest.mark.parametrize(
    ("actual", "expected", "exact", "ordered", "anyorder"),
    [
        (["a", "b"], ["a", "b"], True, True, True),
        (["a", "x", "b"], ["a", "b"], False, True, True),
        (["b", "a"], ["a", "b"], False, False, True),
        (["a"], ["a", "b"], False, False, False),
        (["a", "a"], ["a"], False, True, True),
        ([], [], True, True, True),
        (["a"], [], False, True, True),
    ],
)
def test_trajectory_semantics(actual, expected, exact, ordered, anyorder):
    # Given actual and expected tool names, When each matcher compares them, Then they follow the documented
    # semantics
    assert exact_order(actual, expected) is exact
    assert in_order(actual, expected) is ordered
    assert any_order(actual, expected) is anyorder


def test_trajectory_result_uses_expected_trajectory_and_scores_zero_tokens():
    # Given a session calling search then book, and ground truth expecting exactly that
    sess = session("s", turn(1, tools=(call("search", 1), call("book", 2))))
    refs = SessionReferences("s", expected_tool_names=("search", "book"), assertions=("books",))
    # When the exact-order evaluator runs
    (result,) = _run("Builtin.TrajectoryExactOrderMatch", sess, refs)
    # Then it matches, spends no tokens, and reports the GT field it did not use
    assert (result.value, result.label) == (1.0, "Match")
    assert result.token_usage is None
    assert result.ignored_reference_input_fields == ("assertions",)
    assert result.context.trace_id is None


def test_trajectory_without_expected_trajectory_is_an_error_not_a_score():
    # Given no expectedTrajectory, When scored, Then MissingGroundTruth and no value
    sess = session("s", turn(1, tools=(call("search", 1),)))
    (result,) = _run("Builtin.TrajectoryInOrderMatch", sess)
    assert result.value is None
    assert result.error_code == "MissingGroundTruth"
    assert "expectedTrajectory" in result.error_message


def test_trajectory_mismatch_explains_what_is_missing():
    # Given an expected tool never called, When scored, Then 0.0 naming the missing tool
    sess = session("s", turn(1, tools=(call("search", 1),)))
    (result,) = _run(
        "Builtin.TrajectoryAnyOrderMatch", sess, SessionReferences("s", expected_tool_names=("book",))
    )
    assert result.value == 0.0
    assert "Missing: book" in result.explanation


def test_tool_error_rate_counts_failed_calls():
    # Given 1 failed call of 4, When scored, Then the rate is 0.25
    sess = session(
        "s", turn(1, tools=(call("a", 1), call("b", 2, status="error"), call("c", 3), call("d", 4)))
    )
    (result,) = _run("ThirdParty.Batcheval.ToolErrorRate", sess)
    assert result.value == 0.25
    assert result.label == "Some Errors"


@pytest.mark.parametrize(
    "evaluator_id", ["ThirdParty.Batcheval.ToolErrorRate", "ThirdParty.Batcheval.RepeatedToolCalls"]
)
def test_session_without_tool_calls_is_explicitly_not_applicable_never_a_rate(evaluator_id):
    # Given a session without tool calls, When scored
    (result,) = _run(evaluator_id, session("s", turn(1)))
    # Then it has one result saying so, with no value (no 0.0 rate enters any average), and no error
    assert result.label == "No Tool Calls"
    assert result.value is None
    assert result.error_code is None


def test_repeated_calls_compare_arguments_canonically_and_flag_loops():
    # Given the same call three times with differently formatted but equal JSON, and one different call
    tools = (
        call("get", 1, args='{"id": 1, "x": 2}'),
        call("get", 2, args='{"x":2,"id":1}'),
        call("get", 3, args='{ "id": 1, "x": 2 }'),
        call("get", 4, args='{"id": 2}'),
    )
    (result,) = _run("ThirdParty.Batcheval.RepeatedToolCalls", session("s", turn(1, tools=tools)))
    # Then two of four calls are repeats and the label calls it a loop
    assert result.value == 0.5
    assert result.label == "Loop"


def test_turn_latency_is_per_turn_in_seconds_and_missing_timestamps_are_an_error():
    # Given turns with and without timestamps, When scored, Then seconds per trace or InsufficientData
    sess = session(
        "s", turn(1, start_s=0, end_s=2.5), turn(2, start_s=None, end_s=None), turn(3, start_s=0, end_s=45)
    )
    results = _run("ThirdParty.Batcheval.TurnLatency", sess)
    assert [r.label for r in results] == ["Fast", None, "Slow"]
    assert results[0].value == 2.5
    assert results[1].error_code == "InsufficientData"
    assert results[1].value is None
    assert [r.context.trace_id for r in results] == [t.trace_id for t in sess.turns]


def test_token_usage_sums_reported_calls_and_flags_partial_measurement():
    # Given one model call with usage and one without, When scored, Then a lower bound labelled Partially
    # Measured
    models = (ModelCall("m1", input_tokens=100, output_tokens=10), ModelCall("m2"))
    (result,) = _run("ThirdParty.Batcheval.TokenUsage", session("s", turn(1, models=models)))
    assert result.value == 110.0
    assert result.label == "Partially Measured"


def test_token_usage_with_only_input_tokens_reported_is_a_lower_bound():
    # Given every model call reports usage, but one only its input tokens
    models = (ModelCall("m1", input_tokens=100, output_tokens=10), ModelCall("m2", input_tokens=50))
    # When scored, Then the sum is labelled Partially Measured and the explanation says why
    (result,) = _run("ThirdParty.Batcheval.TokenUsage", session("s", turn(1, models=models)))
    assert result.value == 160.0
    assert result.label == "Partially Measured"
    assert "only input or only output" in str(result.explanation)


def test_token_usage_without_any_reported_usage_is_insufficient_data():
    # Given no reported usage, When scored, Then InsufficientData
    (result,) = _run("ThirdParty.Batcheval.TokenUsage", session("s", turn(1, models=(ModelCall("m1"),))))
    assert result.error_code == "InsufficientData"


def test_targets_follow_the_level():
    # Given 2 turns and 3 tool calls, When targets are listed per level, Then 1 / 2 / 3 targets in order
    sess = session("s", turn(1, tools=(call("a", 1), call("b", 2))), turn(2, tools=(call("c", 3),)))
    assert len(targets_at(sess, "SESSION")) == 1
    assert len(targets_at(sess, "TRACE")) == 2
    spans = [t.span_context.span_id for t in targets_at(sess, "TOOL_CALL")]
    assert spans == [c.span_id for c in sess.tool_calls]


def test_turn_latency_with_end_before_start_is_an_error_not_a_fast_turn():
    # Given a turn whose recorded end precedes its start, When scored, Then InsufficientData
    (result,) = _run("ThirdParty.Batcheval.TurnLatency", session("s", turn(1, start_s=5, end_s=2)))
    assert result.error_code == "InsufficientData"
    assert result.value is None
