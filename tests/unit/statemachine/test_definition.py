"""Static checks of the real state machine definition: what moto cannot execute is asserted here."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from batcheval.errors import ValidationError
from batcheval.local.statemachine import (
    DEFINITION_PATH,
    KNOWN_PLACEHOLDERS,
    distributed_map,
    iter_states,
    load_definition,
    map_settings,
    placeholders,
    substitute,
)

LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
PAYLOAD_LIMIT = 262_144


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return load_definition()


def _map(definition: dict[str, Any]) -> dict[str, Any]:
    return distributed_map(definition)[1]


def _tasks(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, state) for name, state in iter_states(definition["States"]) if state["Type"] == "Task"]


def test_the_file_is_valid_json_with_placeholders_only_inside_strings() -> None:
    # Given the file as text
    text = DEFINITION_PATH.read_text()
    # When it is parsed as plain JSON
    parsed = msgspec.json.decode(text)
    # Then it parses, and every ${...} sits inside a JSON string value
    assert parsed["StartAt"] in parsed["States"]
    for match in re.finditer(r"\$\{[^}]*\}", text):
        line = text[: match.start()].rsplit("\n", 1)[-1] + text[match.start() :].split("\n", 1)[0]
        assert re.search(r'"[^"]*\$\{[A-Za-z]+\}[^"]*"', line), line


def test_every_placeholder_is_a_known_substitution(definition: dict[str, Any]) -> None:
    # Given / When the placeholders of the definition
    found = placeholders(definition)
    # Then each is one CDK fills, and the four step functions and the bucket are all used
    assert found == KNOWN_PLACEHOLDERS


def test_substitute_fills_every_placeholder_and_refuses_a_missing_one(definition: dict[str, Any]) -> None:
    values = {name: f"value-of-{name}" for name in KNOWN_PLACEHOLDERS}
    # When every placeholder has a value
    filled = substitute(definition, values)
    # Then none is left, and the values landed where the placeholders were
    assert placeholders(filled) == set()
    assert "value-of-PayloadBucketName" in msgspec.json.encode(filled).decode()
    # And a missing value is an error, not a literal ${Name} in a deployed machine
    with pytest.raises(ValidationError, match="DiscoverFunctionArn"):
        substitute(definition, {k: v for k, v in values.items() if k != "DiscoverFunctionArn"})


def test_the_map_reads_the_s3_jsonl_manifest_that_discover_returns(definition: dict[str, Any]) -> None:
    reader = _map(definition)["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject"
    assert reader["ReaderConfig"] == {"InputType": "JSONL"}
    assert reader["Parameters"] == {"Bucket.$": "$.manifest.Bucket", "Key.$": "$.manifest.Key"}


def test_the_map_batches_items_with_the_job_reference_in_batch_input(definition: dict[str, Any]) -> None:
    batcher = _map(definition)["ItemBatcher"]
    assert batcher["BatchInput"] == {"owner.$": "$.owner", "batchEvaluationId.$": "$.batchEvaluationId"}
    assert 1 < batcher["MaxItemsPerBatch"] <= 100
    # A batch is far below the 256 KiB state payload limit
    assert batcher["MaxInputBytesPerBatch"] <= PAYLOAD_LIMIT // 2


def test_concurrency_and_tolerance_are_literal_numbers(definition: dict[str, Any]) -> None:
    state = _map(definition)
    assert isinstance(state["MaxConcurrency"], int)
    assert 1 <= state["MaxConcurrency"] <= 10_000
    assert isinstance(state["ToleratedFailurePercentage"], int)
    assert 0 < state["ToleratedFailurePercentage"] < 100
    assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}


def test_map_results_are_written_under_the_jobs_prefix_of_the_payload_bucket(
    definition: dict[str, Any],
) -> None:
    writer = _map(definition)["ResultWriter"]
    assert writer["Resource"] == "arn:aws:states:::s3:putObject"
    assert writer["Parameters"]["Bucket"] == "${PayloadBucketName}"
    assert writer["Parameters"]["Prefix.$"] == (
        "States.Format('jobs/{}/{}/map-run', $.owner, $.batchEvaluationId)"
    )


def test_every_task_retries_lambda_service_errors_with_backoff_and_full_jitter(
    definition: dict[str, Any],
) -> None:
    tasks = _tasks(definition)
    assert {name for name, _ in tasks} == {"Discover", "Score batch", "Aggregate", "Finalize"}
    for name, state in tasks:
        first = state["Retry"][0]
        assert set(first["ErrorEquals"]) == LAMBDA_SERVICE_ERRORS, name
        assert first["BackoffRate"] > 1, name
        assert first["MaxAttempts"] >= 3, name
        assert first["MaxDelaySeconds"] >= first["IntervalSeconds"], name
        for retrier in state["Retry"]:
            assert retrier["JitterStrategy"] == "FULL", name
            assert "MaxDelaySeconds" in retrier, name


def test_every_state_that_can_fail_is_caught_into_finalize(definition: dict[str, Any]) -> None:
    states = definition["States"]
    # Given the top-level states that run work
    for name in ("Discover", "Score sessions", "Aggregate"):
        catches = states[name]["Catch"]
        # Then each catches everything, keeps its input (the job reference) and records the error
        assert [c["ErrorEquals"] for c in catches] == [["States.ALL"]], name
        assert catches[0]["ResultPath"] == "$.error", name
    assert states["Score sessions"]["Catch"][0]["Next"] == "Finalize"
    assert states["Aggregate"]["Catch"][0]["Next"] == "Finalize"
    # Discover's failure reaches Finalize through the job reference of its input
    assert states["Discover"]["Catch"][0]["Next"] == "Job known?"
    known = states["Job known?"]
    assert known["Choices"][0]["Next"] == "Job reference"
    assert states["Job reference"]["Next"] == "Finalize"
    # Finalize receives exactly the contract's shape and the execution then fails visibly
    assert states["Finalize"]["Parameters"]["Payload"] == {
        "owner.$": "$.owner",
        "batchEvaluationId.$": "$.batchEvaluationId",
        "error.$": "$.error",
    }
    assert states[states["Finalize"]["Next"]]["Type"] == "Fail"


def test_every_choice_has_a_default(definition: dict[str, Any]) -> None:
    choices = [(n, s) for n, s in iter_states(definition["States"]) if s["Type"] == "Choice"]
    assert len(choices) == 3
    for name, state in choices:
        assert state["Default"], name


def test_every_next_names_a_state_of_its_own_level(definition: dict[str, Any]) -> None:
    def check(states: dict[str, Any], start: str) -> None:
        assert start in states
        for name, state in states.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Choices", [])]
            targets += [c["Next"] for c in state.get("Catch", [])]
            for target in filter(None, targets):
                assert target in states, f"{name} -> {target}"
            if "ItemProcessor" in state:
                check(state["ItemProcessor"]["States"], state["ItemProcessor"]["StartAt"])

    check(definition["States"], definition["StartAt"])


def test_discover_gets_the_execution_input_plus_the_execution_arn(definition: dict[str, Any]) -> None:
    states = definition["States"]
    bind = states[definition["StartAt"]]
    assert bind["Parameters"] == {"input.$": "$", "execution": {"executionArn.$": "$$.Execution.Id"}}
    assert states["Discover"]["Parameters"]["Payload.$"] == "States.JsonMerge($.input, $.execution, false)"
    assert states["Proceed?"]["Choices"] == [
        {"Variable": "$.proceed", "BooleanEquals": True, "Next": "Score sessions"}
    ]


def test_a_child_loops_on_what_score_batch_hands_back(definition: dict[str, Any]) -> None:
    processor = _map(definition)["ItemProcessor"]
    states = processor["States"]
    score = states[processor["StartAt"]]
    assert score["Parameters"]["Payload"] == {"Items.$": "$.Items", "BatchInput.$": "$.BatchInput"}
    left = states[score["Next"]]
    assert left["Choices"] == [{"Variable": "$.result.remaining[0]", "IsPresent": True, "Next": "Next round"}]
    assert states["Next round"]["Parameters"] == {
        "Items.$": "$.result.remaining",
        "BatchInput.$": "$.BatchInput",
    }
    assert states["Next round"]["Next"] == processor["StartAt"]


def test_payloads_carry_references_and_counts_only(definition: dict[str, Any]) -> None:
    states = definition["States"]
    # Discover's whole output replaces the state (owner, id, proceed, manifest reference, count)
    assert states["Discover"]["OutputPath"] == "$.Payload"
    # A child's output (what the ResultWriter stores) is two counts
    done = _map(definition)["ItemProcessor"]["States"]["Batch done"]
    assert done["Parameters"] == {"scored.$": "$.result.scored", "failed.$": "$.result.failed"}
    # Aggregate keeps only the final status; Finalize's result is dropped
    assert states["Aggregate"]["ResultSelector"] == {"status.$": "$.Payload.status"}
    assert states["Finalize"]["ResultPath"] is None
    # The Map keeps only the ResultWriter's reference (MapRunArn + bucket/key), not child outputs
    assert _map(definition)["ResultPath"] == "$.mapRun"


def test_map_settings_are_read_from_the_definition(definition: dict[str, Any]) -> None:
    settings = map_settings(definition)
    state = _map(definition)
    assert settings.max_items_per_batch == state["ItemBatcher"]["MaxItemsPerBatch"]
    assert settings.max_input_bytes_per_batch == state["ItemBatcher"]["MaxInputBytesPerBatch"]
    assert settings.max_concurrency == state["MaxConcurrency"]
    assert settings.tolerated_failure_percentage == state["ToleratedFailurePercentage"]
    assert settings.task_failed_retries == 1


def test_batch_size_and_concurrency_match_the_pipeline_settings_defaults(definition: dict[str, Any]) -> None:
    # The step Lambdas and infra read PipelineSettings; the ASL literals must say the same
    from batcheval.pipeline.settings import PipelineSettings

    fields = PipelineSettings.model_fields
    settings = map_settings(definition)
    assert settings.max_items_per_batch == fields["max_items_per_batch"].default
    assert settings.max_concurrency == fields["max_concurrency"].default
