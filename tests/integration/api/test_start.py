from __future__ import annotations

import base64
import json
import re
import threading

import pytest
from botocore.exceptions import ClientError

from batcheval.api import dependencies
from tests.integration.api.conftest import (
    BUCKET,
    OWNER,
    Api,
    Stack,
    api_event,
    invoke,
    start_body,
)

TOKEN = "retry-token-" + "0" * 30
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


def test_start_answers_202_with_the_model_fields(api: Api):
    # Given a full valid Start request
    body = start_body(
        "nightly_run",
        description="nightly regression",
        tags={"team": "agents"},
        outputConfig={"cloudWatchConfig": {"logGroupName": "/custom/results"}},
    )

    # When calling the Start handler
    response = api.start(body)

    # Then it is accepted as PENDING with a model-conformant id, ARN and timestamp
    assert response.status == 202, response.body
    assert response.headers["Content-Type"] == "application/json"
    out = response.body
    assert re.fullmatch(r"nightly_run-[a-zA-Z0-9]{10}", out["batchEvaluationId"])
    assert out["batchEvaluationArn"] == (
        f"arn:aws:bedrock-agentcore:us-east-1:{OWNER}:batch-evaluate/{out['batchEvaluationId']}"
    )
    assert out["status"] == "PENDING"
    assert TIMESTAMP.fullmatch(out["createdAt"])
    assert out["tags"] == {"team": "agents"}
    # And the outputConfig comes back resolved: the stream (the job id) and namespace filled in
    assert out["outputConfig"] == {
        "cloudWatchConfig": {
            "logGroupName": "/custom/results",
            "logStreamName": out["batchEvaluationId"],
            "metricsNamespace": "Bedrock-AgentCore/Evaluations",
            "resultDestination": "DEDICATED_LOG_GROUP",
        }
    }
    assert out["evaluators"] == body["evaluators"]
    assert out["description"] == "nightly regression"
    assert "kmsKeyArn" not in out  # the stack key is ours, not echoed as the caller's


def test_retry_with_same_token_returns_the_same_job(api: Api):
    first = api.start(start_body(token=TOKEN))
    again = api.start(start_body(token=TOKEN))
    assert again.status == 202
    assert again.body["batchEvaluationId"] == first.body["batchEvaluationId"]
    assert len(api.list().body["batchEvaluations"]) == 1


def test_same_token_different_request_is_409(api: Api):
    api.start(start_body(token=TOKEN))
    response = api.start(start_body(token=TOKEN, description="other"))
    assert response.status == 409
    assert response.error_type == "ConflictException"
    assert "clientToken" in response.body["message"]


def test_concurrent_retries_through_the_handler_make_one_job(api: Api):
    # Given 6 identical Starts (same token) racing
    statuses: list[tuple[int, str]] = []

    def call() -> None:
        response = api.start(start_body(token=TOKEN))
        statuses.append((response.status, response.body.get("batchEvaluationId", "")))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then all were answered 202 with one and the same job
    assert {status for status, _ in statuses} == {202}
    assert len({job_id for _, job_id in statuses}) == 1
    assert len(api.list().body["batchEvaluations"]) == 1


def test_duplicate_name_is_409_and_another_tenant_may_use_it(api: Api, other_api: Api):
    assert api.start(start_body("taken")).status == 202
    duplicate = api.start(start_body("taken"))
    assert (duplicate.status, duplicate.error_type) == (409, "ConflictException")
    assert other_api.start(start_body("taken")).status == 202


def test_active_job_quota_is_402(api: Api, monkeypatch: pytest.MonkeyPatch):
    # Given a deployment allowing one active job
    monkeypatch.setenv("BATCHEVAL_MAX_ACTIVE_JOBS", "1")
    dependencies.reset()
    assert api.start(start_body("one")).status == 202

    # When starting a second
    response = api.start(start_body("two"))

    # Then the quota answers, and nothing was stored
    assert (response.status, response.error_type) == (402, "ServiceQuotaExceededException")
    assert [job["batchEvaluationName"] for job in api.list().body["batchEvaluations"]] == ["one"]


def test_stored_job_quota_is_402(api: Api, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BATCHEVAL_MAX_STORED_JOBS", "1")
    dependencies.reset()
    job_id = api.start(start_body("one")).body["batchEvaluationId"]
    api.stop(job_id)
    response = api.start(start_body("two"))
    assert (response.status, response.error_type) == (402, "ServiceQuotaExceededException")
    assert "stored" in response.body["message"]


def test_every_bad_field_is_named(api: Api):
    # Given a request with several independent problems
    body = start_body(
        "1bad name",
        evaluators=[{"evaluatorId": "Builtin.Helpfulness"}, {"evaluatorId": "no spaces allowed"}],
        description="x" * 201,
        tags={"k": "bad|value"},
        unknownMember=True,
    )
    body["dataSourceConfig"]["cloudWatchLogs"]["serviceNames"] = []

    # When starting
    response = api.start(body)

    # Then one ValidationException lists each of them
    assert (response.status, response.error_type) == (400, "ValidationException")
    assert response.body["reason"] == "FieldValidationFailed"
    names = {field["name"] for field in response.body["fieldList"]}
    assert names == {
        "batchEvaluationName",
        "evaluators[1].evaluatorId",
        "description",
        "tags.k",
        "unknownMember",
        "dataSourceConfig.cloudWatchLogs.serviceNames",
    }
    assert all(field["message"] for field in response.body["fieldList"])


@pytest.mark.parametrize(
    ("data_source", "field"),
    [
        ({}, "dataSourceConfig"),
        (
            {
                "cloudWatchLogs": {"serviceNames": ["s"]},
                "onlineEvaluationConfigSource": {
                    "onlineEvaluationConfigArn": "arn:aws:bedrock-agentcore:us-east-1:111111111111:"
                    "online-evaluation-config/cfg-0123456789"
                },
            },
            "dataSourceConfig",
        ),
    ],
    ids=["no-member", "two-members"],
)
def test_unions_need_exactly_one_member(api: Api, data_source, field):
    response = api.start(start_body(dataSourceConfig=data_source))
    assert response.status == 400
    assert [f["name"] for f in response.body["fieldList"]] == [field]
    assert "exactly one" in response.body["fieldList"][0]["message"]


def test_oversize_list_and_missing_required_member(api: Api):
    body = start_body(evaluators=[{"evaluatorId": f"Builtin.E{i}"} for i in range(11)])
    del body["dataSourceConfig"]
    response = api.start(body)
    assert response.status == 400
    assert {f["name"] for f in response.body["fieldList"]} == {"evaluators", "dataSourceConfig"}


def test_naive_timestamp_is_rejected_and_iso_with_offset_accepted(api: Api):
    window = {"startTime": "2026-11-25T00:00:00", "endTime": "2026-11-26T00:00:00+02:00"}
    body = start_body()
    body["dataSourceConfig"]["cloudWatchLogs"]["filterConfig"] = {"timeRange": window}
    response = api.start(body)
    assert response.status == 400
    assert [f["name"] for f in response.body["fieldList"]] == [
        "dataSourceConfig.cloudWatchLogs.filterConfig.timeRange.startTime"
    ]


def test_malformed_json_is_cannot_parse(stack: Stack):
    response = invoke("start", api_event("start", raw_body='{"batchEvaluationName": '))
    assert (response.status, response.error_type) == (400, "ValidationException")
    assert response.body["reason"] == "CannotParse"


def test_body_that_is_not_an_object_is_cannot_parse(stack: Stack):
    response = invoke("start", api_event("start", raw_body="[1, 2]"))
    assert response.body["reason"] == "CannotParse"


def test_wrong_content_type_is_rejected(stack: Stack):
    event = api_event("start", body=start_body(), content_type="text/plain")
    response = invoke("start", event)
    assert (response.status, response.error_type) == (400, "ValidationException")
    assert "Content-Type" in response.body["message"]


def test_unsupported_features_are_rejected_not_ignored(api: Api):
    body = start_body(
        insights=[{"insightId": "Builtin.Insight.FailureAnalysis"}],
        datasetExecutionConfig={
            "dataset": {"datasetId": "ds1"},
            "agentInvocation": {
                "agentCoreRuntime": {
                    "agentRuntimeEndpointArn": "arn:aws:bedrock-agentcore:us-east-1:111111111111:"
                    "runtime/agent-0123456789/runtime-endpoint/DEFAULT"
                }
            },
        },
    )
    response = api.start(body)
    assert response.status == 400
    assert "not supported by this deployment yet" in response.body["message"]
    assert [f["name"] for f in response.body["fieldList"]] == ["insights", "datasetExecutionConfig"]
    assert api.list().body["batchEvaluations"] == []


def test_online_evaluation_source_is_rejected(api: Api):
    source = {
        "onlineEvaluationConfigSource": {
            "onlineEvaluationConfigArn": "arn:aws:bedrock-agentcore:us-east-1:111111111111:"
            "online-evaluation-config/cfg-0123456789"
        }
    }
    response = api.start(start_body(dataSourceConfig=source))
    assert response.status == 400
    assert response.body["fieldList"][0]["name"] == "dataSourceConfig.onlineEvaluationConfigSource"


def test_unknown_builtin_evaluator_is_named_with_a_suggestion(api: Api):
    # Given a Start naming one real built-in, one misspelt and one custom evaluator id
    evaluators = [
        {"evaluatorId": "Builtin.Helpfulness"},
        {"evaluatorId": "Builtin.Helpfullness"},
        {"evaluatorId": "tone_check-AbCdE12345"},
    ]

    # When it is sent
    response = api.start(start_body(evaluators=evaluators))

    # Then only the misspelt one is rejected, with the id it probably meant, and no job exists
    assert response.status == 400
    assert [f["name"] for f in response.body["fieldList"]] == ["evaluators[1].evaluatorId"]
    assert "Builtin.Helpfulness" in response.body["fieldList"][0]["message"]
    assert api.list().body["batchEvaluations"] == []


def test_request_without_caller_account_is_403(stack: Stack):
    response = invoke("start", api_event("start", body=start_body(), account=None))
    assert (response.status, response.error_type) == (403, "AccessDeniedException")


def test_bulky_ground_truth_goes_to_s3_encrypted_with_the_callers_key(api: Api, stack: Stack):
    # Given a caller key and 500 sessions of ground truth with long texts
    caller_key = stack.clients.client("kms").create_key()["KeyMetadata"]["Arn"]
    sessions = [
        {
            "sessionId": f"session-{i}",
            "groundTruth": {"inline": {"assertions": [{"text": "x" * 2_000}]}},
        }
        for i in range(500)
    ]
    body = start_body(kmsKeyArn=caller_key, evaluationMetadata={"sessionMetadata": sessions})

    # When starting
    response = api.start(body)

    # Then it is accepted and the ground truth is in S3 under the job, SSE-KMS with that key
    assert response.status == 202, response.body
    assert response.body["kmsKeyArn"] == caller_key
    s3 = stack.clients.client("s3")
    (entry,) = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert response.body["batchEvaluationId"] in entry["Key"]
    head = s3.head_object(Bucket=BUCKET, Key=entry["Key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == caller_key
    assert head["ContentLength"] > 1_000_000
    # And the DynamoDB item stays small and holds no ground truth
    items = stack.clients.client("dynamodb").scan(TableName="batcheval-jobs")["Items"]
    assert all("session-1" not in str(item) for item in items)


def test_unknown_kms_key_is_a_validation_error(api: Api):
    missing = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
    response = api.start(start_body(kmsKeyArn=missing))
    assert response.status == 400
    assert response.body["fieldList"][0]["name"] == "kmsKeyArn"


def test_unexpected_failure_is_a_generic_500(api: Api, monkeypatch: pytest.MonkeyPatch):
    # Given a service that fails with an internal detail
    service = dependencies.get_service()

    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("secret table name batcheval-jobs")

    monkeypatch.setattr(service, "start", explode)

    # When starting
    response = api.start(start_body())

    # Then the caller gets InternalServerException without the detail
    assert (response.status, response.error_type) == (500, "InternalServerException")
    assert "secret" not in response.body["message"]
    assert set(response.body) == {"message"}


def test_dependency_throttling_is_429(api: Api, monkeypatch: pytest.MonkeyPatch):
    service = dependencies.get_service()

    def throttled(*_: object, **__: object) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "GetItem"
        )

    monkeypatch.setattr(service, "start", throttled)
    response = api.start(start_body())
    assert (response.status, response.error_type) == (429, "ThrottlingException")


def test_base64_encoded_body_is_decoded(stack: Stack):
    # Given API Gateway passing the body base64-encoded (binary media types configured)
    event = api_event("start", raw_body=base64.b64encode(json.dumps(start_body()).encode()).decode())
    event["isBase64Encoded"] = True

    # When starting / Then it is accepted like a plain body
    assert invoke("start", event).status == 202


def test_api_owner_account_is_never_taken_for_the_caller(stack: Stack):
    # Given a request whose identity has no caller account (e.g. an authorizer that is not AWS_IAM),
    # while requestContext.accountId names the account that owns the API, as API Gateway always does
    event = api_event("start", body=start_body(), account=None)
    event["requestContext"]["accountId"] = "999999999999"

    # When starting a job
    response = invoke("start", event)

    # Then it is refused, and no job was created for the API owner
    assert (response.status, response.error_type) == (403, "AccessDeniedException")
    assert Api("999999999999").list().body["batchEvaluations"] == []


def test_a_time_range_that_ends_before_it_starts_is_rejected(api: Api):
    # Given a session window whose end is not after its start (it could never match a session)
    for window in (
        {"startTime": "2026-11-26T00:00:00Z", "endTime": "2026-11-25T00:00:00Z"},
        {"startTime": "2026-11-26T00:00:00Z", "endTime": "2026-11-26T02:00:00+02:00"},
    ):
        body = start_body()
        body["dataSourceConfig"]["cloudWatchLogs"]["filterConfig"] = {"timeRange": window}

        # When starting
        response = api.start(body)

        # Then the window is named in a ValidationException and no job exists
        assert response.status == 400
        assert [f["name"] for f in response.body["fieldList"]] == [
            "dataSourceConfig.cloudWatchLogs.filterConfig.timeRange"
        ]
        assert api.list().body["batchEvaluations"] == []


def test_a_job_without_evaluators_is_rejected(api: Api):
    # Given Start requests that name no evaluator (and no insights: those are not supported yet)
    without = start_body()
    del without["evaluators"]
    for body in (without, start_body(evaluators=[])):
        # When starting
        response = api.start(body)

        # Then a ValidationException names `evaluators` and no job exists (it would evaluate nothing)
        assert (response.status, response.error_type) == (400, "ValidationException")
        assert [f["name"] for f in response.body["fieldList"]] == ["evaluators"]
    assert api.list().body["batchEvaluations"] == []


def test_model_errors_and_refused_features_are_named_in_one_answer(api: Api):
    # Given a Start with a bad name, an unsupported feature and no evaluator
    body = start_body(
        batchEvaluationName="1 bad name", insights=[{"insightId": "Builtin.Insight.UserIntent"}]
    )
    del body["evaluators"]

    # When starting
    response = api.start(body)

    # Then one ValidationException names all three, not only the model's error
    assert (response.status, response.error_type) == (400, "ValidationException")
    assert [f["name"] for f in response.body["fieldList"]] == [
        "batchEvaluationName",
        "insights",
        "evaluators",
    ]
    assert response.body["message"] == "3 validation error(s) in: batchEvaluationName, insights, evaluators"


def test_a_malformed_refused_field_is_named_once_and_never_crashes(api: Api):
    # Given an unsupported member and a data source that are not even objects
    body = start_body(insights="not a list", dataSourceConfig="not an object")

    # When starting, Then each is named once in a ValidationException
    response = api.start(body)
    assert response.status == 400
    assert sorted(f["name"] for f in response.body["fieldList"]) == ["dataSourceConfig", "insights"]
