"""The pipeline: the definition file filled by substitutions, logging, tracing, encryption, steps."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from infra.asl import placeholders
from infra.components.pipeline import STEPS

from batcheval.pipeline import settings
from tests.infra.conftest import Synth, definition_file
from tests.infra.support import actions_of, as_list, function_by_handler, function_role, role_statements

FUNCTIONS = Path(__file__).parents[2] / "functions"


def machine(synth: Synth) -> dict[str, Any]:
    (state_machine,) = synth.resources("AWS::StepFunctions::StateMachine").values()
    return dict(state_machine["Properties"])


def definition(synth: Synth) -> dict[str, Any]:
    return dict(json.loads(machine(synth)["DefinitionString"]))


def test_definition_is_the_file_with_every_placeholder_substituted(full: Synth):
    # Given the deployed definition and its substitutions
    properties = machine(full)
    text = properties["DefinitionString"]

    # Then it is the file verbatim, and its placeholders are exactly the substituted names
    assert json.loads(text) == json.loads(definition_file().read_text())
    assert placeholders(text) == set(properties["DefinitionSubstitutions"])
    # and nothing else looks like a placeholder
    assert re.findall(r"\$\{[^}]*\}", text) == [
        f"${{{n}}}" for n in re.findall(r"\$\{([A-Za-z0-9_]+)\}", text)
    ]


def test_substitutions_point_at_the_step_functions_and_bucket(full: Synth):
    substitutions = machine(full)["DefinitionSubstitutions"]
    for step, handler in STEPS.items():
        if f"{step}FunctionArn" in substitutions:
            assert substitutions[f"{step}FunctionArn"] == {
                "Fn::GetAtt": [function_by_handler(full.service, handler), "Arn"]
            }
    if "PayloadBucketName" in substitutions:
        (bucket_id,) = [
            k
            for k in full.resources("AWS::S3::Bucket")
            if k.startswith("StoragePayloads") and "Access" not in k
        ]
        assert substitutions["PayloadBucketName"] == {"Ref": bucket_id}


def find_states(states: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, state in states.items():
        found[name] = state
        for nested in (
            (state.get("ItemProcessor") or state.get("Iterator") or {}).get("States", {}),
            *(branch["States"] for branch in state.get("Branches", [])),
        ):
            found |= find_states(nested)
    return found


def test_distributed_map_reads_jsonl_batches_and_writes_results(full: Synth):
    states = find_states(definition(full)["States"])
    maps = [
        s
        for s in states.values()
        if s["Type"] == "Map"
        and s.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    ]
    assert maps, "no Distributed Map"
    for state in maps:
        assert state["ItemReader"]["ReaderConfig"]["InputType"] == "JSONL"
        assert "ItemBatcher" in state
        assert "ResultWriter" in state


def test_execution_logging_tracing_and_encryption(full: Synth):
    properties = machine(full)
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["EncryptionConfiguration"]["Type"] == "CUSTOMER_MANAGED_KMS_KEY"
    log_group_id = properties["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"][
        "LogGroupArn"
    ]["Fn::GetAtt"][0]
    assert "KmsKeyId" in full.service["Resources"][log_group_id]["Properties"]


def test_step_functions_share_one_python313_asset_and_exist_in_the_package(full: Synth):
    codes = set()
    for handler in STEPS.values():
        function = full.service["Resources"][function_by_handler(full.service, handler)]["Properties"]
        assert function["Runtime"] == "python3.13"
        assert function["TracingConfig"] == {"Mode": "Active"}
        codes.add(json.dumps(function["Code"], sort_keys=True))
    for resource in full.resources("AWS::Lambda::Function").values():
        codes.add(json.dumps(resource["Properties"]["Code"], sort_keys=True))
        module = resource["Properties"]["Handler"].removesuffix(".lambda_handler")
        path = FUNCTIONS / (module.replace(".", "/") + ".py")
        if path.parent.exists() or not module.startswith("batcheval.pipeline.handlers"):
            assert path.exists(), f"{module} is deployed but missing from functions/"
    assert len(codes) == 1


def test_status_change_rule_sends_unhandled_endings_to_finalize(full: Synth):
    (rule,) = full.resources("AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert set(pattern["detail"]["status"]) == {"FAILED", "TIMED_OUT", "ABORTED"}
    (machine_id,) = full.resources("AWS::StepFunctions::StateMachine")
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": machine_id}]
    (target,) = rule["Properties"]["Targets"]
    finalize = function_by_handler(full.service, STEPS["Finalize"])
    assert target["Arn"] == {"Fn::GetAtt": [finalize, "Arn"]}
    assert "DeadLetterConfig" in target
    assert "RetryPolicy" in target


def test_machine_role_invokes_only_the_steps_and_its_own_children(full: Synth):
    (machine_id,) = full.resources("AWS::StepFunctions::StateMachine")
    role = full.service["Resources"][machine_id]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = role_statements(full.service, role)
    invoke = [s for s in statements if "lambda:InvokeFunction" in json.dumps(s["Action"])]
    invoked = {r["Fn::GetAtt"][0] for s in invoke for r in s["Resource"]}
    assert invoked == {function_by_handler(full.service, h) for h in STEPS.values()}
    start = [s for s in statements if "states:StartExecution" in json.dumps(s["Action"])]
    assert all("stateMachine:batcheval-test-batch-evaluation" in json.dumps(s["Resource"]) for s in start)


def test_caller_data_steps_may_assume_only_the_caller_role(full: Synth):
    for step in ("Discover", "ScoreBatch"):
        statements = role_statements(
            full.service, function_role(full.service, function_by_handler(full.service, STEPS[step]))
        )
        assume = [s for s in statements if "sts:AssumeRole" in json.dumps(s["Action"])]
        resources = {
            json.dumps(r)
            for s in assume
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        }
        assert resources
        assert all(":role/batcheval-caller-access" in r for r in resources)
    aggregate = role_statements(
        full.service, function_role(full.service, function_by_handler(full.service, STEPS["Aggregate"]))
    )
    assert "sts:AssumeRole" not in actions_of(aggregate)


def test_pipeline_environment_names_the_caller_role_and_external_id(full: Synth):
    env = full.service["Resources"][function_by_handler(full.service, STEPS["Discover"])]["Properties"][
        "Environment"
    ]["Variables"]
    assert env["BATCHEVAL_CALLER_ROLE_NAME"] == "batcheval-caller-access"
    assert env["BATCHEVAL_CALLER_EXTERNAL_ID"] == "batcheval-test-external-id"
    for name in (
        "BATCHEVAL_JOBS_TABLE",
        "BATCHEVAL_PAYLOAD_BUCKET",
        "BATCHEVAL_KMS_KEY_ARN",
        "BATCHEVAL_STATE_MACHINE_ARN",
    ):
        assert name in env


def test_default_external_id_is_derived_from_the_service_account(default: Synth):
    env = default.service["Resources"][function_by_handler(default.service, STEPS["Discover"])]["Properties"][
        "Environment"
    ]["Variables"]
    assert env["BATCHEVAL_CALLER_EXTERNAL_ID"] == {
        "Fn::Join": ["", ["batcheval-", {"Ref": "AWS::AccountId"}]]
    }


def step_environment(synth: Synth, step: str) -> dict[str, Any]:
    function = synth.service["Resources"][function_by_handler(synth.service, STEPS[step])]
    return dict(function["Properties"]["Environment"]["Variables"])


def test_step_environment_is_what_the_pipeline_settings_model_reads(full: Synth):
    # Given the engine's settings model (one model for every step; names in ENVIRONMENT)
    known = set(settings.ENVIRONMENT.values()) | {"AWS_REGION"}
    required = {
        settings.ENVIRONMENT[name]
        for name, field in settings.PipelineSettings.model_fields.items()
        if field.is_required() and name in settings.ENVIRONMENT
    }
    for step in STEPS:
        env = step_environment(full, step)
        ours = {
            name for name in env if name.startswith("BATCHEVAL_") and not name.startswith("BATCHEVAL_JUDGE_")
        }
        # Then every variable we set is one it reads, and every required one is set (AWS_REGION: Lambda's)
        assert ours <= known, step
        assert required - {"AWS_REGION"} <= set(env), step


def test_batch_size_and_concurrency_match_the_definition(full: Synth):
    text = machine(full)["DefinitionString"]
    maps = [
        s
        for s in find_states(json.loads(text)["States"]).values()
        if s.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    ]
    env = step_environment(full, "ScoreBatch")
    assert env["BATCHEVAL_MAX_ITEMS_PER_BATCH"] == str(maps[0]["ItemBatcher"]["MaxItemsPerBatch"])
    assert env["BATCHEVAL_MAX_CONCURRENCY"] == str(maps[0]["MaxConcurrency"])


def test_finalize_restarts_stranded_jobs_on_this_machine(full: Synth):
    # Given the Finalize step (it re-starts PENDING jobs whose Start crashed: JobService.resume_stranded)
    env = step_environment(full, "Finalize")
    statements = role_statements(
        full.service, function_role(full.service, function_by_handler(full.service, STEPS["Finalize"]))
    )

    def granted(action: str) -> list[str]:
        return [
            json.dumps(resource)
            for s in statements
            if s["Effect"] == "Allow" and action in as_list(s["Action"])
            for resource in as_list(s["Resource"])
        ]

    # Then it knows the machine by its fixed-name ARN (no reference to the machine: no cycle)
    arn = json.dumps(env["BATCHEVAL_STATE_MACHINE_ARN"])
    assert ":stateMachine:batcheval-test-batch-evaluation" in arn
    (machine_id,) = full.resources("AWS::StepFunctions::StateMachine")
    assert machine_id not in arn
    # and may start runs of that machine only, and stop its executions (a Stop that won the race)
    start = granted("states:StartExecution")
    assert start
    assert all("stateMachine:batcheval-test-batch-evaluation" in r for r in start)
    stop = granted("states:StopExecution")
    assert stop
    assert all("execution:batcheval-test-batch-evaluation:*" in r for r in stop)
