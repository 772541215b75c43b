"""The API: botocore's paths and methods, IAM auth everywhere, resource policy, one role per operation."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from infra.components.api import OPERATIONS

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


def test_paths_and_methods_are_exactly_the_botocore_model(full: Synth):
    # Given the five operations of the stock client's model
    model = botocore.session.get_session().get_service_model("bedrock-agentcore")
    expected = {
        (model.operation_model(op.name).http["method"], model.operation_model(op.name).http["requestUri"])
        for op in OPERATIONS
    }

    # Then the API has exactly those methods on exactly those paths
    assert set(methods(full.service)) == expected


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
    assert starters == {"StartBatchEvaluation"}
    assert record_deleters == {"DeleteBatchEvaluation"}
    # Start may remove its own half-written objects after a lost race, never a job record.
    assert object_deleters == {"DeleteBatchEvaluation", "StartBatchEvaluation"}
