"""The caller stack: trust only the pipeline roles with the ExternalId; only the agreed permissions."""

from __future__ import annotations

import json
from pathlib import Path

from infra.app import caller_template

from tests.infra.conftest import Synth
from tests.infra.support import actions_of, as_list

COMMITTED = Path(__file__).parents[2] / "infra" / "templates" / "caller-access.template.json"


def role(synth: Synth) -> dict:
    (only,) = synth.resources("AWS::IAM::Role", synth.caller).values()
    return dict(only["Properties"])


def test_trust_is_the_pipeline_roles_with_the_external_id(full: Synth):
    (statement,) = role(full)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"] == {"sts:ExternalId": {"Ref": "ExternalId"}}
    assert statement["Condition"]["ArnEquals"] == {"aws:PrincipalArn": {"Ref": "PipelineRoleArns"}}
    assert "ServiceAccountId" in json.dumps(statement["Principal"])


def test_grants_only_traces_results_metrics_and_the_callers_key(full: Synth):
    (policy,) = role(full)["Policies"]
    statements = []
    for statement in policy["PolicyDocument"]["Statement"]:
        statements += (
            [b for b in statement["Fn::If"][1:] if "Effect" in b] if "Fn::If" in statement else [statement]
        )
    assert actions_of(statements) == {
        "logs:StartQuery", "logs:GetQueryResults", "logs:StopQuery", "logs:FilterLogEvents",
        "logs:GetLogEvents",
        "logs:DescribeLogGroups", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
        "logs:DescribeLogStreams", "cloudwatch:PutMetricData", "kms:Decrypt", "kms:GenerateDataKey",
        "kms:Encrypt", "kms:DescribeKey",
    }  # fmt: skip
    key_use = next(s for s in statements if s.get("Sid") == "CallerKey")
    assert "kms:EncryptionContext:batcheval:batchEvaluationArn" in key_use["Condition"]["StringLike"]
    reads = next(s for s in statements if s.get("Sid") == "ReadTraces")
    assert all(
        "SpansLogGroupPattern" in json.dumps(r) or "AgentLogGroupPattern" in json.dumps(r)
        for r in as_list(reads["Resource"])
    )


def test_committed_plain_template_is_current():
    # Given the template teams deploy without CDK / Then it equals a fresh synth (`make caller-template`)
    assert json.loads(COMMITTED.read_text()) == caller_template()
    assert "BootstrapVersion" not in COMMITTED.read_text()
    assert "aws:cdk:path" not in COMMITTED.read_text()
