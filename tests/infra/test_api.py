"""The API: botocore's paths and methods, IAM auth everywhere, resource policy, one role per operation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from infra.components.api import OPERATIONS

from batcheval.api.routes import ROUTES
from tests.infra.conftest import CALLER, ORG, Synth
from tests.infra.support import actions_of, as_list, function_by_handler, function_role, role_statements


def resource_path(template: dict[str, Any], resource: Any) -> str:
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:  # the API's root resource
        return ""
    properties = template["Resources"][resource["Ref"]]["Properties"]
    return resource_path(template, properties["ParentId"]) + "/" + properties["PathPart"]


def methods(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (m["Properties"]["HttpMethod"], resource_path(template, m["Properties"]["ResourceId"])): m[
            "Properties"
        ]
        for m in template["Resources"].values()
        if m["Type"] == "AWS::ApiGateway::Method"
    }


BATCH_OPERATIONS = {
    "StartBatchEvaluation",
    "GetBatchEvaluation",
    "ListBatchEvaluations",
    "StopBatchEvaluation",
    "DeleteBatchEvaluation",
}


def test_paths_and_methods_are_exactly_the_botocore_model_plus_the_retry_extension(full: Synth):
    # Given the five batch operations of the stock client's model (botocore's own data only: a
    # session would also load batcheval's sdk-extras once some test has run `batcheval.install()`)
    model = ServiceModel(Loader().load_service_model("bedrock-agentcore", "service-2"), "bedrock-agentcore")
    modeled = {
        (model.operation_model(name).http["method"], model.operation_model(name).http["requestUri"])
        for name in BATCH_OPERATIONS
    }
    # and the one documented extension, on the route the product serves it
    retry = ROUTES["RetryFailedBatchEvaluation"]
    assert retry.operation not in model.operation_names
    assert {op.name for op in OPERATIONS if op.extension} == {retry.operation}
    assert {op.name for op in OPERATIONS if not op.extension} == BATCH_OPERATIONS

    # Then the API has exactly those methods on exactly those paths
    assert set(methods(full.service)) == modeled | {(retry.method, retry.path)}
    # and each deployed operation is bound as the handlers route it
    for op in OPERATIONS:
        assert (op.method, op.path) == (ROUTES[op.name].method, ROUTES[op.name].path), op.name


def test_every_method_requires_sigv4_and_validates_its_request(full: Synth):
    for (verb, path), method in methods(full.service).items():
        assert method["AuthorizationType"] == "AWS_IAM", (verb, path)
        assert "RequestValidatorId" in method, (verb, path)
        if "{batchEvaluationId}" in path:
            assert method["RequestParameters"] == {"method.request.path.batchEvaluationId": True}


def test_each_method_integrates_its_own_operation_function(full: Synth):
    for operation in OPERATIONS:
        method = methods(full.service)[(operation.method, operation.path)]
        function_id = function_by_handler(full.service, operation.handler)
        uri = str(method["Integration"]["Uri"])
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert f"'{function_id}'" in uri, operation.name


def policy_statements(synth: Synth) -> dict[str, dict[str, Any]]:
    (api,) = synth.resources("AWS::ApiGateway::RestApi").values()
    return {s["Sid"]: s for s in api["Properties"]["Policy"]["Statement"]}


def test_resource_policy_admits_configured_accounts_and_org_and_denies_everyone_else(full: Synth):
    statements = policy_statements(full)
    allowed = {str(p) for p in as_list(statements["AllowConfiguredAccounts"]["Principal"]["AWS"])}
    assert any(CALLER in p for p in allowed)
    assert any("AWS::AccountId" in p for p in allowed)
    org = statements["AllowConfiguredOrganization"]
    assert org["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG}}
    deny = statements["DenyEveryoneElse"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"AWS": "*"}
    not_equals = deny["Condition"]["StringNotEquals"]
    assert CALLER in not_equals["aws:PrincipalAccount"]
    assert not_equals["aws:PrincipalOrgID"] == ORG


def test_default_resource_policy_admits_only_the_deploying_account(default: Synth):
    statements = policy_statements(default)
    assert set(statements) == {"AllowConfiguredAccounts", "DenyEveryoneElse"}
    deny = statements["DenyEveryoneElse"]["Condition"]["StringNotEquals"]
    assert deny == {"aws:PrincipalAccount": [{"Ref": "AWS::AccountId"}]}


def test_stage_has_access_logs_tracing_and_throttling(full: Synth):
    (stage,) = full.resources("AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    assert properties["TracingEnabled"] is True
    assert "DestinationArn" in properties["AccessLogSetting"]
    settings = {(s["HttpMethod"], s["ResourcePath"]): s for s in properties["MethodSettings"]}
    assert settings[("*", "/*")]["ThrottlingRateLimit"] == 60
    assert settings[("*", "/*")]["DataTraceEnabled"] is False
    # Start, Stop and Delete at AgentCore's 3 TPS (resource paths are ~1-escaped in method settings)
    start = settings[("POST", "/~1evaluations~1batch-evaluate")]
    assert start["ThrottlingRateLimit"] == 3


def test_gateway_refusals_use_the_service_error_shape(full: Synth):
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in full.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    assert responses["BAD_REQUEST_BODY"]["ResponseParameters"] == {
        "gatewayresponse.header.x-amzn-ErrorType": "'ValidationException'"
    }
    assert responses["THROTTLED"]["ResponseParameters"]["gatewayresponse.header.x-amzn-ErrorType"] == (
        "'ThrottlingException'"
    )


def operation_actions(synth: Synth) -> dict[str, set[str]]:
    return {
        op.name: actions_of(
            role_statements(
                synth.service, function_role(synth.service, function_by_handler(synth.service, op.handler))
            )
        )
        for op in OPERATIONS
    }


def test_each_operation_has_its_own_role(full: Synth):
    roles = {function_role(full.service, function_by_handler(full.service, op.handler)) for op in OPERATIONS}
    assert len(roles) == len(OPERATIONS)


@pytest.mark.parametrize("operation", ["GetBatchEvaluation", "ListBatchEvaluations"])
def test_readers_cannot_start_stop_or_delete(full: Synth, operation: str):
    actions = operation_actions(full)[operation]
    forbidden = {
        a
        for a in actions
        if a.startswith("states:") or "Delete" in a or a.endswith(("PutItem", "UpdateItem", "PutObject"))
    }
    assert forbidden == set()


def test_only_start_starts_executions_and_only_delete_deletes(full: Synth):
    actions = operation_actions(full)
    starters = {name for name, granted in actions.items() if "states:StartExecution" in granted}
    record_deleters = {name for name, granted in actions.items() if "dynamodb:DeleteItem" in granted}
    object_deleters = {name for name, granted in actions.items() if "s3:DeleteObject" in granted}
    assert starters == {"StartBatchEvaluation", "RetryFailedBatchEvaluation"}
    assert record_deleters == {"DeleteBatchEvaluation"}
    # Start may remove its own half-written objects after a lost race, never a job record.
    assert object_deleters == {"DeleteBatchEvaluation", "StartBatchEvaluation"}


MACHINE = "stateMachine:batcheval-test-batch-evaluation"
EXECUTIONS = "execution:batcheval-test-batch-evaluation:*"


def resources_granting(synth: Synth, operation: str, action: str) -> list[str]:
    """The resources (as JSON text) on which the operation's role is allowed `action`."""
    handler = next(op.handler for op in OPERATIONS if op.name == operation)
    statements = role_statements(
        synth.service, function_role(synth.service, function_by_handler(synth.service, handler))
    )
    return [
        json.dumps(resource)
        for s in statements
        if s["Effect"] == "Allow" and action in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    ]


def test_retry_failed_route_requires_sigv4_validates_its_id_and_is_throttled_like_start(full: Synth):
    # Given the RetryFailed extension's method
    method = methods(full.service)[("POST", "/evaluations/batch-evaluate/{batchEvaluationId}/retry-failed")]

    # Then it is SigV4-only, validates its path parameter, integrates its own function
    assert method["AuthorizationType"] == "AWS_IAM"
    assert method["RequestParameters"] == {"method.request.path.batchEvaluationId": True}
    validator = full.service["Resources"][method["RequestValidatorId"]["Ref"]]["Properties"]
    assert validator["ValidateRequestParameters"] is True
    function_id = function_by_handler(full.service, "batcheval.api.handlers.retry_failed_batch_evaluation")
    assert f"'{function_id}'" in str(method["Integration"]["Uri"])
    # and it is throttled at Start's 3 TPS
    (stage,) = full.resources("AWS::ApiGateway::Stage").values()
    settings = {(s["HttpMethod"], s["ResourcePath"]): s for s in stage["Properties"]["MethodSettings"]}
    retry = settings[("POST", "/~1evaluations~1batch-evaluate~1{batchEvaluationId}~1retry-failed")]
    assert retry["ThrottlingRateLimit"] == 3


def test_retry_failed_role_starts_runs_of_this_machine_and_removes_no_record_or_object(full: Synth):
    # Given the RetryFailed function's role
    actions = operation_actions(full)["RetryFailedBatchEvaluation"]

    # Then it may start (and, after a lost race with Stop, stop) runs of this machine only
    start = resources_granting(full, "RetryFailedBatchEvaluation", "states:StartExecution")
    assert start
    assert all(MACHINE in r for r in start)
    stop = resources_granting(full, "RetryFailedBatchEvaluation", "states:StopExecution")
    assert stop
    assert all(EXECUTIONS in r for r in stop)
    # and it reads and rewrites the job's objects and run records, encrypting with the job's key
    assert {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
        "dynamodb:UpdateItem",
        "s3:GetObject",
        "s3:PutObject",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    } <= actions
    assert all("jobs/*" in r for r in resources_granting(full, "RetryFailedBatchEvaluation", "s3:PutObject"))
    # but removes no job record and no object
    assert not {a for a in actions if a in {"dynamodb:DeleteItem", "s3:DeleteObject"}}


@pytest.mark.parametrize("operation", ["StopBatchEvaluation", "DeleteBatchEvaluation"])
def test_stop_and_delete_may_stop_executions_of_this_machine_only(full: Synth, operation: str):
    stop = resources_granting(full, operation, "states:StopExecution")
    assert stop
    assert all(EXECUTIONS in r for r in stop)
