"""No wildcard actions; Resource "*" only for actions without resource-level permissions."""

from __future__ import annotations

import json

import pytest
from infra.nag import RESOURCE_STAR_ACTIONS

from tests.infra.conftest import CALLER, ORG, Synth
from tests.infra.support import all_statements, as_list


@pytest.mark.parametrize("template", ["service", "caller"])
def test_no_action_wildcards(full: Synth, template: str):
    for statement in all_statements(getattr(full, template)):
        for action in as_list(statement["Action"]):
            assert not action.endswith("*"), statement


@pytest.mark.parametrize("template", ["service", "caller"])
def test_resource_star_only_with_a_written_reason(full: Synth, template: str):
    for statement in all_statements(getattr(full, template)):
        if statement["Effect"] == "Allow" and "*" in as_list(statement["Resource"]):
            unexplained = set(as_list(statement["Action"])) - set(RESOURCE_STAR_ACTIONS)
            assert unexplained == set(), statement
            if "cloudwatch:PutMetricData" in as_list(statement["Action"]):
                assert "cloudwatch:namespace" in json.dumps(statement["Condition"])


def test_no_aws_managed_policy_on_function_roles(full: Synth):
    roles = full.resources("AWS::IAM::Role")
    with_managed = {name for name, role in roles.items() if role["Properties"].get("ManagedPolicyArns")}
    # Only API Gateway's account-level logging role (acknowledged in infra/nag.py).
    assert len(with_managed) == 1
    assert next(iter(with_managed)).startswith("ApiRestApiCloudWatchRole")


def test_caller_keys_are_usable_only_for_batch_evaluation_data(full: Synth):
    for statement in all_statements(full.service):
        actions = set(as_list(statement["Action"])) & {"kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"}
        resources = json.dumps(statement["Resource"])
        if actions and "key/*" in resources:
            assert "kms:EncryptionContext:batcheval:batchEvaluationArn" in json.dumps(statement["Condition"])


def test_explicit_accounts_and_the_organization_are_both_reachable(full: Synth):
    # Given accounts AND an organization configured
    assume = [s for s in all_statements(full.service) if "sts:AssumeRole" in as_list(s["Action"])]
    resources = {json.dumps(r) for s in assume for r in as_list(s["Resource"])}

    # Then each named account's caller role is reachable, and any organization account's by condition
    assert any(CALLER in r for r in resources)
    in_org = [s for s in assume if "aws:ResourceOrgID" in json.dumps(s.get("Condition", {}))]
    assert in_org
    assert all(s["Condition"]["StringEquals"]["aws:ResourceOrgID"] == ORG for s in in_org)


def test_single_account_default_assumes_no_role(default: Synth):
    assume = [s for s in all_statements(default.service) if "sts:AssumeRole" in as_list(s["Action"])]
    assert assume == []
