import pytest

from batcheval.errors import ValidationError
from batcheval.evaluators.definitions import (
    CodeConfig,
    DerivedConfig,
    LlmJudgeConfig,
    derived_id,
    parse_definition,
)
from tests.unit.evaluators.definitions_fixtures import MULTI_DIMENSIONS, code, derived, llm


def test_llm_definition_parses_with_a_stable_derived_id_and_custom_arn():
    # Given an llmAsAJudge request without id, When parsed, Then a stable id and the account's ARN
    definition = parse_definition(llm(), region="eu-west-1", account_id="123456789012")
    assert isinstance(definition.config, LlmJudgeConfig)
    assert definition.evaluator_id == derived_id("tone_check")
    assert definition.evaluator_id.startswith("tone_check-")
    assert (
        definition.evaluator_arn
        == f"arn:aws:bedrock-agentcore:eu-west-1:123456789012:evaluator/{definition.evaluator_id}"
    )
    assert definition.config.model.max_tokens == 256
    assert definition.evaluator_type == "Custom"


def test_given_ids_are_kept_and_must_match_the_custom_pattern():
    # Given explicit ids, When parsed, Then valid ones are kept and others rejected
    assert (
        parse_definition({**llm(), "evaluatorId": "tone_check-AbCdE12345"}).evaluator_id
        == "tone_check-AbCdE12345"
    )
    with pytest.raises(ValidationError, match="evaluatorId"):
        parse_definition({**llm(), "evaluatorId": "Builtin.Mine"})


def test_botocore_model_rejects_wrong_types_and_missing_members():
    # Given requests breaking the botocore model, When parsed, Then ValidationError
    with pytest.raises(ValidationError, match="level"):
        parse_definition({"evaluatorName": "x", "evaluatorConfig": llm()["evaluatorConfig"]})
    with pytest.raises(ValidationError):
        parse_definition({**code(), "evaluatorConfig": {"codeBased": {"lambdaConfig": {"lambdaArn": 5}}}})


@pytest.mark.parametrize(
    ("level", "instructions", "message"),
    [
        ("TRACE", "Judge the reply.", "at least one TRACE placeholder"),
        ("TRACE", "Judge {assistant_turn} against {tool_turn}", "not allowed at TRACE"),
        ("SESSION", "Check {context} against {expected_response}", "not allowed at SESSION"),
    ],
)
def test_placeholders_must_fit_the_level(level, instructions, message):
    # Given instructions with no or foreign placeholders, When parsed, Then ValidationError naming the problem
    with pytest.raises(ValidationError, match=message):
        parse_definition(llm(level=level, instructions=instructions))


def test_json_braces_in_instructions_are_not_placeholders():
    # Given JSON braces in instructions, When parsed, Then only real placeholders count
    config = parse_definition(llm(instructions='Return like {"a": 1}. Reply: {assistant_turn}')).config
    assert isinstance(config, LlmJudgeConfig)
    assert config.placeholders == {"assistant_turn"}


def test_rating_scale_is_a_union_with_unique_labels():
    # Given two scales at once or duplicate labels, When parsed, Then ValidationError
    both = {
        "numerical": [{"label": "A", "value": 1, "definition": "a"}],
        "categorical": [{"label": "B", "definition": "b"}],
    }
    with pytest.raises(ValidationError, match="only set one"):
        parse_definition(llm(scale=both))
    dupes = {"categorical": [{"label": "A", "definition": "a"}, {"label": "a", "definition": "b"}]}
    with pytest.raises(ValidationError, match="unique"):
        parse_definition(llm(scale=dupes))


def test_multi_dimensional_scale_parses_each_dimension():
    # Given a two-dimension scale, When parsed, Then each dimension keeps its own scale
    dims = MULTI_DIMENSIONS
    config = parse_definition(llm(scale=dims)).config
    assert isinstance(config, LlmJudgeConfig)
    assert [d.name for d in config.dimensions] == ["tone", "accuracy"]
    assert config.dimensions[1].scale[1].value == 1.0
    assert config.dimensions[0].scale[0].value is None


def test_code_and_derived_definitions():
    # Given code-based and derived requests, When parsed, Then their configs and types (default timeout 60 s)
    code_def = parse_definition(code(timeout=5))
    assert code_def.config == CodeConfig("arn:aws:lambda:us-east-1:123456789012:function:score-session", 5)
    assert parse_definition(code()).config == CodeConfig(code_def.config.lambda_arn, 60)
    assert code_def.evaluator_type == "CustomCode"
    derived_def = parse_definition(derived())
    assert isinstance(derived_def.config, DerivedConfig)
    assert derived_def.evaluator_type == "CustomDerived"


def test_derived_needs_an_llm_builtin_at_the_same_level():
    # Given a non-LLM base or another level, When parsed, Then ValidationError
    with pytest.raises(ValidationError, match="not an LLM-judge built-in"):
        parse_definition(derived(base="Builtin.TrajectoryExactOrderMatch", level="SESSION"))
    with pytest.raises(ValidationError, match="runs at TRACE"):
        parse_definition(derived(level="SESSION"))


def test_dimension_names_follow_the_model_pattern():
    # Given a dimension name breaking the model pattern, When parsed, Then ValidationError
    bad = {
        "multiDimensional": [
            {
                "dimensionName": "2bad name",
                "dimensionInstruction": "x",
                "dimensionRatingScale": {"categorical": [{"label": "A", "definition": "a"}]},
            }
        ]
    }
    with pytest.raises(ValidationError, match="dimension names"):
        parse_definition(llm(scale=bad))
