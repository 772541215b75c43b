import pytest

from batcheval.errors import JudgeError, ValidationError
from batcheval.evaluators.custom import CustomJudgeEvaluator
from batcheval.evaluators.definitions import parse_definition
from batcheval.evaluators.factory import EvaluatorFactory
from batcheval.evaluators.ground_truth import SessionReferences
from batcheval.judges.base import JudgeResponse, TokenUsage
from batcheval.judges.fake import ScriptedJudge, ScriptedReply
from tests.unit.evaluators.builders import call, label_judge, session, turn
from tests.unit.evaluators.definitions_fixtures import MULTI_DIMENSIONS, derived, llm


class _Store:
    def __init__(self, *documents):
        self._defs = {d.evaluator_id: d for d in (parse_definition(doc) for doc in documents)}

    def get(self, evaluator_id):
        return self._defs.get(evaluator_id)

    def list(self):
        return list(self._defs.values())


def _run(evaluator, sess, refs=None):
    refs = refs or SessionReferences.empty(sess.session_id)
    return [r for t in evaluator.targets(sess) for r in evaluator.evaluate(t, refs)]


def test_numerical_scale_fills_placeholders_and_scores_the_labels_value():
    # Given a TRACE evaluator whose instructions use {context} and {assistant_turn}
    definition = parse_definition(
        llm(instructions="History:\n{context}\nReply:\n{assistant_turn}\nIs it polite?")
    )
    judge = label_judge("Good")
    sess = session("s", turn(1, user="hello", response="Hi there, how can I help?"))
    # When it runs
    (result,) = _run(CustomJudgeEvaluator(definition, judge), sess)
    # Then the judge saw the filled instructions, on the configured model, and the value comes from the scale
    request = judge.requests[0]
    assert "Reply:\nHi there, how can I help?" in request.prompt
    assert "User: hello" in request.prompt
    assert "{assistant_turn}" not in request.prompt
    assert request.model_id == "us.anthropic.claude-haiku-4-5"
    assert request.max_tokens == 256
    assert (result.value, result.label) == (1.0, "Good")
    assert result.evaluator_id == definition.evaluator_id
    assert result.evaluator_name == "tone_check"
    assert result.evaluator_arn == definition.evaluator_arn


def test_categorical_scale_gives_a_label_without_a_value():
    # Given a categorical scale, When judged, Then a label without value and no error
    scale = {"categorical": [{"label": "Polite", "definition": "p"}, {"label": "Rude", "definition": "r"}]}
    evaluator = CustomJudgeEvaluator(parse_definition(llm(scale=scale)), label_judge("Rude"))
    (result,) = _run(evaluator, session("s", turn(1)))
    assert result.label == "Rude"
    assert result.value is None
    assert result.error_code is None


def test_multi_dimensional_gives_one_result_per_dimension_in_one_call_with_tokens_apportioned():
    # Given two dimensions and one off-scale answer, When judged in one call, Then per-dimension results with
    # tokens summing to the call
    dims = MULTI_DIMENSIONS
    reply = ScriptedReply(
        output={
            "tone": {"explanation": "ok", "label": "Polite"},
            "accuracy": {"explanation": "no", "label": "Maybe"},
        },
        usage=TokenUsage(101, 21),
    )
    judge = ScriptedJudge(default=reply)
    tone, accuracy = _run(
        CustomJudgeEvaluator(parse_definition(llm(scale=dims)), judge), session("s", turn(1))
    )
    assert len(judge.requests) == 1
    assert set(judge.requests[0].output_schema["properties"]) == {"tone", "accuracy"}
    assert (tone.evaluation_dimension_name, tone.label) == ("tone", "Polite")
    # An off-protocol dimension is an error on that dimension only
    assert accuracy.evaluation_dimension_name == "accuracy"
    assert accuracy.error_code == "InvalidJudgeOutput"
    assert tone.token_usage + accuracy.token_usage == TokenUsage(101, 21)


def test_ground_truth_placeholder_without_ground_truth_is_an_error_and_no_call():
    # Given {expected_response} but GT for one trace only, When judged, Then the other is MissingGroundTruth
    # without a call
    definition = parse_definition(llm(instructions="Compare {assistant_turn} with {expected_response}"))
    judge = label_judge("Good")
    sess = session("s", turn(1), turn(2))
    refs = SessionReferences("s", expected_responses={sess.turns[1].trace_id: "expected!"})
    missing, present = _run(CustomJudgeEvaluator(definition, judge), sess, refs)
    assert missing.error_code == "MissingGroundTruth"
    assert present.value == 1.0
    assert present.ignored_reference_input_fields == ()
    assert len(judge.requests) == 1
    assert "expected!" in judge.requests[0].prompt


def test_agent_data_that_looks_like_a_placeholder_is_never_expanded():
    # Given an agent response that spells out a placeholder, and a reference answer for the trace
    definition = parse_definition(llm(instructions="Compare {assistant_turn} with {expected_response}"))
    judge = label_judge("Good")
    sess = session("s", turn(1, response="The answer is {expected_response} and {context}"))
    refs = SessionReferences("s", expected_responses={sess.turns[0].trace_id: "SECRET-REFERENCE"})
    # When judged
    _run(CustomJudgeEvaluator(definition, judge), sess, refs)
    # Then the response reaches the judge verbatim; the reference appears once, where the
    # instructions put it, and the JSON-ish braces of other text are untouched
    (request,) = judge.requests
    assert "The answer is {expected_response} and {context} with SECRET-REFERENCE" in request.prompt
    assert request.prompt.count("SECRET-REFERENCE") == 1


def test_session_placeholders_render_trajectories_and_assertions():
    # Given SESSION GT placeholders, When judged, Then trajectories and assertions are filled in
    definition = parse_definition(
        llm(
            level="SESSION",
            instructions="Expected {expected_tool_trajectory} actual {actual_tool_trajectory} "
            "must {assertions}",
        )
    )
    judge = label_judge("Good")
    sess = session("s", turn(1, tools=(call("search", 1), call("book", 2))))
    refs = SessionReferences("s", assertions=("pay",), expected_tool_names=("search",))
    (result,) = _run(CustomJudgeEvaluator(definition, judge), sess, refs)
    assert "Expected [search] actual [search, book] must - pay" in judge.requests[0].prompt
    assert result.ignored_reference_input_fields == ()


def test_judge_error_marks_every_dimension_failed():
    # Given an unavailable judge, When judged, Then the result carries the judge's error
    judge = ScriptedJudge(default=JudgeError("JudgeUnavailable", "down"))
    (result,) = _run(CustomJudgeEvaluator(parse_definition(llm()), judge), session("s", turn(1)))
    assert result.error_code == "JudgeUnavailable"


def test_derived_evaluator_runs_the_builtin_rubric_on_its_own_model_under_its_own_identity():
    # Given a derived Helpfulness on Nova, When run, Then the built-in scale on that model under the custom
    # identity
    definition = parse_definition(derived())
    judge = label_judge("Very Helpful")
    factory = EvaluatorFactory(judge=lambda: judge, store=_Store(derived()))
    evaluator = factory.build(definition.evaluator_id)
    (result,) = _run(evaluator, session("s", turn(1)))
    assert judge.requests[0].model_id == "us.amazon.nova-pro-v1:0"
    assert judge.requests[0].output_schema["properties"]["label"]["enum"][-1] == "Above And Beyond"
    assert result.evaluator_id == definition.evaluator_id
    assert result.evaluator_name == "helpful_on_nova"
    assert result.value == 0.833


def test_unknown_ids_are_reported_by_request_position_with_hints():
    # Given one known and two unknown ids, When checked, Then each unknown is named by its position
    factory = EvaluatorFactory(store=_Store(llm()))
    with pytest.raises(ValidationError) as exc:
        factory.check_ids(["Builtin.Coherence", "Builtin.Coherense", "nothing-like-it"])
    assert [f.name for f in exc.value.fields] == ["evaluators[1].evaluatorId", "evaluators[2].evaluatorId"]
    assert "did you mean Builtin.Coherence" in exc.value.fields[0].message


def test_estimated_token_usage_is_marked_on_custom_results():
    # Given a judge whose server reported no usage
    class NoUsageJudge:
        def judge(self, request):
            return JudgeResponse(
                {"label": "Good", "explanation": "ok"}, TokenUsage(9, 1), "m", usage_estimated=True
            )

    evaluator = CustomJudgeEvaluator(parse_definition(llm()), NoUsageJudge())
    # When evaluated, Then the result says its token usage is an estimate
    (result,) = _run(evaluator, session("s", turn(1)))
    assert result.value == 1.0
    assert result.extra["tokenUsageEstimated"] is True
