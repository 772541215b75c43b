"""All five operations through the stock boto3 client, signed both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.contract.support import data_source, job_ids, start_request


@pytest.fixture(params=["execute-api", "bedrock-agentcore"])
def client(request, local_api, tenant):
    """`batcheval.client` (execute-api) and an unmodified boto3 client (bedrock-agentcore)."""
    return local_api.client(tenant, signing_name=request.param)


def test_a_job_goes_through_start_get_list_stop_delete(client, tenant):
    # Given a caller with no jobs
    assert job_ids(client) == []
    # When they start a job with every field the service stores
    started = client.start_batch_evaluation(
        **start_request(
            "nightly_run",
            description="nightly helpfulness",
            outputConfig={"cloudWatchConfig": {"logGroupName": "/my/results"}},
            tags={"team": "agents"},
        )
    )
    # Then it is accepted (202) as PENDING in the caller's account
    assert started["ResponseMetadata"]["HTTPStatusCode"] == 202
    job_id = started["batchEvaluationId"]
    assert started["status"] == "PENDING"
    assert started["batchEvaluationName"] == "nightly_run"
    assert (
        started["batchEvaluationArn"]
        == f"arn:aws:bedrock-agentcore:us-east-1:{tenant.account_id}:batch-evaluate/{job_id}"
    )
    assert job_id.startswith("nightly_run-")
    assert started["tags"] == {"team": "agents"}
    assert abs(started["createdAt"] - datetime.now(UTC)) < timedelta(minutes=1)

    # When they get it, Then the stored request is echoed
    got = client.get_batch_evaluation(batchEvaluationId=job_id)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["status"] == "PENDING"
    assert got["description"] == "nightly helpfulness"
    assert got["dataSourceConfig"] == data_source()
    assert got["evaluators"] == [{"evaluatorId": "Builtin.Helpfulness"}]
    assert got["outputConfig"]["cloudWatchConfig"]["logGroupName"] == "/my/results"
    assert got["createdAt"] == started["createdAt"]

    # When they list, Then the job is there with its summary
    listed = client.list_batch_evaluations()
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [job["batchEvaluationId"] for job in listed["batchEvaluations"]] == [job_id]
    assert listed["batchEvaluations"][0]["batchEvaluationName"] == "nightly_run"

    # When they stop it (it has no run yet), Then it is STOPPED at once (202)
    stopped = client.stop_batch_evaluation(batchEvaluationId=job_id)
    assert stopped["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert stopped["batchEvaluationId"] == job_id
    assert client.get_batch_evaluation(batchEvaluationId=job_id)["status"] == "STOPPED"

    # When they delete it, Then it is gone: Get/Stop/Delete answer 404 and List is empty
    deleted = client.delete_batch_evaluation(batchEvaluationId=job_id)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["status"] == "DELETING"
    for call in (client.get_batch_evaluation, client.stop_batch_evaluation, client.delete_batch_evaluation):
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            call(batchEvaluationId=job_id)
    assert job_ids(client) == []


def test_responses_carry_a_request_id(agentcore):
    response = agentcore.list_batch_evaluations()
    assert response["ResponseMetadata"]["RequestId"]
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"].startswith("application/json")
