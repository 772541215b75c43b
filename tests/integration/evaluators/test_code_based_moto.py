"""A code-based custom evaluator invoking a Lambda on moto (Docker-free backend with canned replies)."""

import io
import json
import zipfile

import boto3
import pytest
import requests
from moto import mock_aws

from batcheval.evaluators.factory import EvaluatorFactory
from batcheval.evaluators.report import evaluate_sessions
from batcheval.evaluators.store import DynamoEvaluatorStore, evaluator_table_definition
from tests.unit.evaluators.builders import session, turn

CANNED = "http://motoapi.amazonaws.com/moto-api/static/lambda-simple/response"


@pytest.fixture
def aws():
    with mock_aws(config={"lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="evaluator", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = boto3.client("lambda", region_name="us-east-1")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
        arn = lam.create_function(
            FunctionName="policy-check",
            Runtime="python3.13",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(**evaluator_table_definition("evaluators"))
        yield lam, DynamoEvaluatorStore("evaluators", ddb, region="us-east-1", account_id="123456789012"), arn


def test_code_based_evaluator_from_the_store_scores_each_trace_through_lambda(aws):
    # Given a TRACE code-based evaluator stored in DynamoDB, and a Lambda that answers twice
    lam, store, arn = aws
    definition = store.create(
        {
            "evaluatorName": "policy_check",
            "level": "TRACE",
            "evaluatorConfig": {
                "codeBased": {"lambdaConfig": {"lambdaArn": arn, "lambdaTimeoutInSeconds": 30}}
            },
        }
    )
    replies = [
        json.dumps({"label": "Pass", "value": 1.0}),
        json.dumps({"errorCode": "NoPolicy", "errorMessage": "x"}),
    ]
    requests.post(CANNED, json={"results": replies, "region": "us-east-1"}, timeout=5).raise_for_status()
    spans = ({"traceId": "t", "spanId": "s", "scope": {"name": "strands.telemetry.tracer"}},)
    factory = EvaluatorFactory(store=store, lambda_client=lambda: lam)
    # When the evaluator runs over a two-turn session
    report = evaluate_sessions(
        [session("s", turn(1), turn(2), spans=spans)],
        [definition.evaluator_id],
        factory=factory,
        max_workers=1,
    )
    # Then each trace got the Lambda's answer, under the custom evaluator's identity
    passed, failed = report.results
    assert (passed.label, passed.value) == ("Pass", 1.0)
    assert passed.evaluator_arn == definition.evaluator_arn
    assert passed.context.trace_id == "0" * 31 + "1"
    assert (failed.error_code, failed.error_message) == ("NoPolicy", "x")
    summary = report.summaries[0].to_wire(extended=False)
    assert (summary["totalEvaluated"], summary["totalFailed"]) == (1, 1)
