from __future__ import annotations

from batcheval.api import dependencies
from tests.integration.api.conftest import BUCKET, Api, Stack, start_body


def test_stop_a_job_that_never_ran_goes_to_stopped_then_conflicts(api: Api):
    job_id = api.start(start_body(description="d")).body["batchEvaluationId"]

    stopped = api.stop(job_id)
    assert stopped.status == 202
    assert stopped.body["status"] == "STOPPED"
    assert stopped.body["description"] == "d"
    assert api.get(job_id).body["status"] == "STOPPED"

    again = api.stop(job_id)
    assert (again.status, again.error_type) == (409, "ConflictException")


def test_stop_a_running_job_answers_stopping(api: Api, stack: Stack):
    # Given a job whose pipeline run started
    service = dependencies.get_service()
    job_id = api.start(start_body()).body["batchEvaluationId"]
    service.store.record_run(
        "111111111111", job_id, "run-1", now=service.store.require("111111111111", job_id).updated_at
    )

    # When stopping it
    response = api.stop(job_id)

    # Then it is STOPPING (the pipeline finishes the stop)
    assert (response.status, response.body["status"]) == (202, "STOPPING")


def test_delete_of_an_active_job_stops_and_removes_it(api: Api):
    # Given a job not finished yet
    job_id = api.start(start_body()).body["batchEvaluationId"]
    # When deleting it, Then it is accepted as DELETING and gone afterwards
    response = api.delete(job_id)
    assert (response.status, response.body["status"]) == (202, "DELETING")
    assert api.get(job_id).status == 404


def test_delete_removes_everything_and_later_calls_are_404(api: Api, stack: Stack):
    # Given a finished (stopped) job with ground truth in S3
    body = start_body(evaluationMetadata={"sessionMetadata": [{"sessionId": "s1"}]})
    job_id = api.start(body).body["batchEvaluationId"]
    api.stop(job_id)
    s3 = stack.clients.client("s3")
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1

    # When deleting it
    response = api.delete(job_id)

    # Then the answer says DELETING, and the job and its objects are gone
    assert response.status == 202
    assert response.body == {
        "batchEvaluationId": job_id,
        "batchEvaluationArn": response.body["batchEvaluationArn"],
        "status": "DELETING",
    }
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    for answer in (api.get(job_id), api.stop(job_id), api.delete(job_id)):
        assert (answer.status, answer.error_type) == (404, "ResourceNotFoundException")
    items = stack.clients.client("dynamodb").scan(TableName="batcheval-jobs")["Items"]
    assert [item["sk"]["S"] for item in items] == ["COUNTERS"]


def test_tenants_cannot_stop_or_delete_each_other(api: Api, other_api: Api):
    # Given one tenant's stopped job
    job_id = api.start(start_body()).body["batchEvaluationId"]

    # When the other tenant tries to stop it, then it is 404 and still PENDING
    assert other_api.stop(job_id).status == 404
    assert api.get(job_id).body["status"] == "PENDING"

    # When the other tenant tries to delete it after it stopped, then 404 and it is still there
    api.stop(job_id)
    assert other_api.delete(job_id).status == 404
    assert api.get(job_id).body["status"] == "STOPPED"
