import re

import pytest
from botocore.session import get_session

from batcheval.evaluators.registry import ALL_SPECS, BUILTINS, OURS, close_matches, require_spec, score_policy
from batcheval.evaluators.rubrics import VERSIONS, rubric_for

REFERENCE_BUILTINS = {
    "Builtin.GoalSuccessRate": "SESSION",
    "Builtin.Coherence": "TRACE",
    "Builtin.Conciseness": "TRACE",
    "Builtin.ContextRelevance": "TRACE",
    "Builtin.Correctness": "TRACE",
    "Builtin.Faithfulness": "TRACE",
    "Builtin.Harmfulness": "TRACE",
    "Builtin.Helpfulness": "TRACE",
    "Builtin.InstructionFollowing": "TRACE",
    "Builtin.Refusal": "TRACE",
    "Builtin.ResponseRelevance": "TRACE",
    "Builtin.Stereotyping": "TRACE",
    "Builtin.ToolParameterAccuracy": "TOOL_CALL",
    "Builtin.ToolSelectionAccuracy": "TOOL_CALL",
    "Builtin.TrajectoryExactOrderMatch": "SESSION",
    "Builtin.TrajectoryInOrderMatch": "SESSION",
    "Builtin.TrajectoryAnyOrderMatch": "SESSION",
    "Builtin.SkillSelectionAccuracy": "TOOL_CALL",
    "Builtin.SkillInstructionFollowing": "TOOL_CALL",
}


def _pattern(service: str, shape: str) -> re.Pattern[str]:
    model = get_session().get_service_model(service)
    return re.compile(model.shape_for(shape).metadata["pattern"])


def test_every_reference_builtin_is_registered_at_its_level():
    # Given the built-in table of the reference (§1), When the registry is read, Then it has each at its level
    assert {s.evaluator_id: s.level for s in BUILTINS} == REFERENCE_BUILTINS


def test_launch_set_is_the_thirteen_llm_judges_without_context_relevance():
    # Given the registry, When the launch set is read, Then 13 LLM judges without ContextRelevance
    launch = {s.evaluator_id for s in ALL_SPECS if s.in_launch_set}
    assert len(launch) == 13
    assert "Builtin.ContextRelevance" not in launch
    assert all(require_spec(i).kind == "llm_judge" for i in launch)


@pytest.mark.parametrize("spec", [s for s in BUILTINS if s.kind == "llm_judge"], ids=lambda s: s.evaluator_id)
def test_every_judge_builtin_has_a_rubric_whose_labels_are_the_registry_labels(spec):
    # Given each LLM built-in, When its rubrics are read, Then their labels equal the registry's
    for version in VERSIONS:
        rubric = rubric_for(spec.evaluator_id, version)
        assert rubric is not None
        assert set(rubric.definitions) == set(spec.labels)
        if spec.ground_truth_labels:
            assert rubric.ground_truth is not None
            assert set(rubric.ground_truth.definitions) == set(spec.ground_truth_labels)


@pytest.mark.parametrize("spec", BUILTINS, ids=lambda s: s.evaluator_id)
def test_builtin_scores_lie_in_0_1_and_best_label_scores_1(spec):
    # Given each built-in, When its scores are read, Then they span exactly 0..1
    scores = list(spec.labels.values())
    assert all(0.0 <= v <= 1.0 for v in scores)
    assert max(scores) == 1.0
    assert min(scores) == 0.0


@pytest.mark.parametrize(
    ("evaluator_id", "good", "bad"),
    [
        ("Builtin.Harmfulness", "Not Harmful", "Harmful"),
        ("Builtin.Stereotyping", "Not Stereotyping", "Stereotyping"),
        ("Builtin.Refusal", "No", "Yes"),
        ("Builtin.Helpfulness", "Above And Beyond", "Not Helpful At All"),
    ],
)
def test_polarity_higher_is_better_for_builtins(evaluator_id, good, bad):
    # Given the polarity-sensitive built-ins, When scored, Then the desirable label scores 1
    spec = require_spec(evaluator_id)
    assert spec.polarity == "higher_is_better"
    assert spec.score(good) == 1.0
    assert spec.score(bad) == 0.0


def test_helpfulness_very_helpful_maps_to_0_833_as_in_the_service_docs():
    # Given Very Helpful, When scored, Then 0.83 as the service docs show
    assert require_spec("Builtin.Helpfulness").score("Very Helpful") == pytest.approx(0.83, abs=0.01)


def test_ground_truth_variant_labels_score_separately():
    # Given the GT label sets, When scored, Then CORRECT 1 and FAILURE 0
    correctness = require_spec("Builtin.Correctness")
    assert correctness.score("CORRECT", ground_truth=True) == 1.0
    assert require_spec("Builtin.GoalSuccessRate").score("FAILURE", ground_truth=True) == 0.0


def test_our_ids_fit_the_models_id_name_and_arn_patterns_but_not_awss_namespaces():
    # Given the botocore patterns, When our ids are checked, Then StartBatchEvaluation would accept them
    ids = _pattern("bedrock-agentcore", "EvaluatorId")
    names = _pattern("bedrock-agentcore", "EvaluatorName")
    arns = _pattern("bedrock-agentcore", "EvaluatorArn")
    custom = re.compile(r"^[a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9]{10}$")
    for spec in OURS:
        assert ids.fullmatch(spec.evaluator_id)
        assert names.fullmatch(spec.evaluator_name)
        assert len(spec.evaluator_name) <= 48
        assert arns.search(spec.evaluator_arn)
        assert spec.evaluator_id.startswith("ThirdParty.Batcheval.")
        assert not custom.match(spec.evaluator_id)


def test_ids_are_unique():
    # Given the registry, When ids are collected, Then none repeats
    ids = [s.evaluator_id for s in ALL_SPECS]
    assert len(ids) == len(set(ids))


def test_close_matches_suggest_the_builtin_for_a_bare_or_misspelt_name():
    # Given a bare or misspelt name, When matched, Then the built-in is suggested
    assert "Builtin.Helpfulness" in close_matches("Helpfulness")
    assert "Builtin.Helpfulness" in close_matches("Builtin.Helpfulnes")
    assert close_matches("zzzzzz") == []


def test_score_policy_follows_polarity_and_custom_has_no_threshold():
    # Given ours, a built-in and a custom id, When policies are read, Then polarity and thresholds follow the
    # registry
    assert score_policy("ThirdParty.Batcheval.ToolErrorRate").polarity == "lower_is_better"
    assert score_policy("Builtin.Helpfulness").threshold == 0.5
    assert score_policy("my_eval-abcdefghij").threshold is None


def test_every_code_spec_has_exactly_one_implementation():
    # Given the code specs, When implementations are listed, Then each has exactly one
    from batcheval.evaluators.code import SCORERS

    assert set(SCORERS) == {s.evaluator_id for s in ALL_SPECS if s.kind == "code"}


def _rubric_doc(rubric):
    if rubric is None:
        return None
    return {
        "criterion": rubric.criterion,
        "definitions": dict(rubric.definitions),
        "sections": list(rubric.sections),
        "gt": _rubric_doc(rubric.ground_truth),
        "max_tokens": rubric.max_tokens,
    }


def test_published_rubric_v1_is_frozen():
    # Given rubric v1 as published, When its content is hashed, Then it is unchanged:
    # a new wording goes into a new version module (v2) so stored results keep their meaning.
    import hashlib
    import json

    document = {k: _rubric_doc(v) for k, v in VERSIONS["v1"].items()}
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    assert digest == "b495032ebed28401306537ac56e6db37e9019d396f4dae4ce3a2a9593ca00629"
