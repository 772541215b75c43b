from __future__ import annotations

import re

import pytest

from tests.integration.api.conftest import Api, Stack, api_event, invoke, start_body

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


def test_get_echoes_what_the_model_returns(api: Api, stack: Stack):
    # Given a job started with every echoed field
    caller_key = stack.clients.client("kms").create_key()["KeyMetadata"]["Arn"]
    body = start_body(
        "echo",
        description="d",
        tags={"team": "agents"},
        kmsKeyArn=caller_key,
        outputConfig={
            "cloudWatchConfig": {"logGroupName": "/results", "resultDestination": "DEDICATED_LOG_GROUP"}
        },
    )
    body["dataSourceConfig"]["cloudWatchLogs"]["filterConfig"] = {
        "timeRange": {"startTime": "2026-11-25T00:00:00+02:00", "endTime": 1795669200}
    }
    job_id = api.start(body).body["batchEvaluationId"]

    # When getting it
    response = api.get(job_id)

    # Then Get returns the model's members (no tags: GetBatchEvaluation has none) in wire form
    assert response.status == 200
    out = response.body
    assert out["batchEvaluationId"] == job_id
    assert out["status"] == "PENDING"
    assert out["evaluators"] == body["evaluators"]
    # And outputConfig is the request's, resolved as the service does (stream = job id, namespace)
    assert out["outputConfig"] == {
        "cloudWatchConfig": {
            "logGroupName": "/results",
            "logStreamName": job_id,
            "metricsNamespace": "Bedrock-AgentCore/Evaluations",
            "resultDestination": "DEDICATED_LOG_GROUP",
        }
    }
    assert out["kmsKeyArn"] == caller_key
    assert out["description"] == "d"
    assert "tags" not in out
    assert TIMESTAMP.fullmatch(out["createdAt"])
    assert TIMESTAMP.fullmatch(out["updatedAt"])
    time_range = out["dataSourceConfig"]["cloudWatchLogs"]["filterConfig"]["timeRange"]
    assert time_range == {"startTime": "2026-11-24T22:00:00Z", "endTime": "2026-11-26T05:00:00Z"}


def test_other_tenants_job_is_404_exactly_like_a_missing_one(api: Api, other_api: Api):
    # Given a job of one tenant
    job_id = api.start(start_body()).body["batchEvaluationId"]
    missing_id = job_id[:-10] + "0123456789"

    # When the other tenant asks for it, and for an id that does not exist
    foreign = other_api.get(job_id)
    missing = other_api.get(missing_id)

    # Then both answers are the same 404 (only the id in the message differs)
    assert (foreign.status, foreign.error_type) == (404, "ResourceNotFoundException")
    assert (missing.status, missing.error_type) == (404, "ResourceNotFoundException")
    assert foreign.body["message"].replace(job_id, "ID") == missing.body["message"].replace(missing_id, "ID")
    assert other_api.list().body["batchEvaluations"] == []


def test_malformed_id_is_a_validation_error(api: Api):
    response = api.get("not an id")
    assert (response.status, response.error_type) == (400, "ValidationException")
    assert response.body["fieldList"][0]["name"] == "batchEvaluationId"


def test_list_is_newest_first_and_pages_with_opaque_tokens(api: Api):
    # Given seven jobs (each stopped, to stay under the active-job quota)
    names = [f"job{i}" for i in range(7)]
    for name in names:
        api.stop(api.start(start_body(name)).body["batchEvaluationId"])

    # When listing three at a time
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = {"maxResults": "3"} | ({"nextToken": token} if token else {})
        response = api.list(**query)
        assert response.status == 200
        seen.extend(job["batchEvaluationName"] for job in response.body["batchEvaluations"])
        pages += 1
        token = response.body.get("nextToken")
        if not token:
            break

    # Then all jobs came newest first over three pages, the last without a token
    assert seen == list(reversed(names))
    assert pages == 3
    summary = api.list(maxResults="1").body["batchEvaluations"][0]
    assert {"batchEvaluationId", "batchEvaluationArn", "status", "createdAt", "evaluators"} <= set(summary)


def test_default_page_size_is_10(api: Api):
    for i in range(12):
        job_id = api.start(start_body(f"j{i}")).body["batchEvaluationId"]
        api.stop(job_id)
    response = api.list()
    assert len(response.body["batchEvaluations"]) == 10
    assert response.body["nextToken"]


def test_token_of_another_tenant_or_tampered_is_rejected(api: Api, other_api: Api):
    for i in range(3):
        api.start(start_body(f"j{i}"))
    token = api.list(maxResults="1").body["nextToken"]

    stolen = other_api.list(nextToken=token)
    tampered = api.list(nextToken=token[:20] + ("A" if token[20] != "A" else "B") + token[21:])
    garbage = api.list(nextToken="!!not-base64!!")

    for response in (stolen, tampered, garbage):
        assert (response.status, response.error_type) == (400, "ValidationException")
        assert response.body["fieldList"][0]["name"] == "nextToken"


@pytest.mark.parametrize("value", ["0", "101", "ten"])
def test_max_results_out_of_range(api: Api, value: str):
    response = api.list(maxResults=value)
    assert response.status == 400
    assert response.body["fieldList"][0]["name"] == "maxResults"


def test_wrong_method_on_a_handler_is_the_services_error_shape(stack: Stack):
    # Given the Get handler receiving a POST (a wiring mistake)
    event = api_event("get", job_id="abc-0123456789", method="POST")

    # When invoked
    response = invoke("get", event)

    # Then the answer is in the service's error shape, not Powertools' default
    assert (response.status, response.error_type) == (404, "ResourceNotFoundException")
    assert "No operation matches POST" in response.body["message"]
