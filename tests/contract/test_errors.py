"""Every error type of the API, each with its wire shape and no change of state."""

from __future__ import annotations

import pytest

from tests.contract.support import job_ids, no_state_change, start_request


def test_validation_exception_names_every_bad_field(agentcore):
    with no_state_change(agentcore), pytest.raises(agentcore.exceptions.ValidationException) as exc:
        agentcore.start_batch_evaluation(
            **start_request("9starts_with_a_digit", description="x" * 201),
        )
    response = exc.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "ValidationException"
    assert response["reason"] == "FieldValidationFailed"
    assert {field["name"] for field in response["fieldList"]} == {"batchEvaluationName", "description"}
    assert all(field["message"] for field in response["fieldList"])


def test_resource_not_found_for_an_unknown_job(agentcore):
    with pytest.raises(agentcore.exceptions.ResourceNotFoundException) as exc:
        agentcore.get_batch_evaluation(batchEvaluationId="never_started-abcdefghij")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert exc.value.response["Error"]["Message"]


def test_conflict_when_stopping_a_stopped_job(agentcore):
    job_id = agentcore.start_batch_evaluation(**start_request("stop_twice"))["batchEvaluationId"]
    agentcore.stop_batch_evaluation(batchEvaluationId=job_id)
    with no_state_change(agentcore), pytest.raises(agentcore.exceptions.ConflictException) as exc:
        agentcore.stop_batch_evaluation(batchEvaluationId=job_id)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_deleting_an_active_job_stops_and_removes_it(agentcore):
    # Given a job not finished yet, When deleting it, Then it is DELETING and then gone (404)
    job_id = agentcore.start_batch_evaluation(**start_request("still_active"))["batchEvaluationId"]
    assert agentcore.delete_batch_evaluation(batchEvaluationId=job_id)["status"] == "DELETING"
    with pytest.raises(agentcore.exceptions.ResourceNotFoundException):
        agentcore.get_batch_evaluation(batchEvaluationId=job_id)


def test_service_quota_on_active_jobs(local_api, agentcore):
    # Given a deployment allowing two active jobs per account
    with local_api.settings(BATCHEVAL_MAX_ACTIVE_JOBS="2"):
        first = agentcore.start_batch_evaluation(**start_request("active_1"))["batchEvaluationId"]
        agentcore.start_batch_evaluation(**start_request("active_2"))
        # When a third starts, Then the quota answers 402 and nothing is stored
        with (
            no_state_change(agentcore),
            pytest.raises(agentcore.exceptions.ServiceQuotaExceededException) as exc,
        ):
            agentcore.start_batch_evaluation(**start_request("active_3"))
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
        # When one is stopped, Then there is room again
        agentcore.stop_batch_evaluation(batchEvaluationId=first)
        agentcore.start_batch_evaluation(**start_request("active_3"))


def test_service_quota_on_stored_jobs(local_api, agentcore):
    with local_api.settings(BATCHEVAL_MAX_STORED_JOBS="1"):
        job_id = agentcore.start_batch_evaluation(**start_request("stored_1"))["batchEvaluationId"]
        agentcore.stop_batch_evaluation(batchEvaluationId=job_id)
        with no_state_change(agentcore), pytest.raises(agentcore.exceptions.ServiceQuotaExceededException):
            agentcore.start_batch_evaluation(**start_request("stored_2"))
        agentcore.delete_batch_evaluation(batchEvaluationId=job_id)
        agentcore.start_batch_evaluation(**start_request("stored_2"))


def test_access_denied_by_the_apis_resource_policy(local_api, agentcore, tenant):
    # Given the API's resource policy does not allow the caller's account
    with local_api.resource_policy({"999999999999"}):
        # Then every operation is denied with API Gateway's AccessDeniedException
        with pytest.raises(agentcore.exceptions.AccessDeniedException) as exc:
            agentcore.start_batch_evaluation(**start_request("denied"))
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert f"arn:aws:iam::{tenant.account_id}:user/" in exc.value.response["Error"]["Message"]
        assert "execute-api:Invoke" in exc.value.response["Error"]["Message"]
    # And nothing was created
    assert job_ids(agentcore) == []


def test_throttling_when_the_stage_rate_is_exceeded(local_api, agentcore):
    with local_api.throttled(burst=1):
        agentcore.list_batch_evaluations()
        with pytest.raises(agentcore.exceptions.ThrottlingException) as exc:
            agentcore.start_batch_evaluation(**start_request("throttled"))
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert job_ids(agentcore) == []


def test_internal_errors_reveal_nothing(local_api, agentcore):
    # Given the handlers are misconfigured (their table does not exist)
    # When a request reaches them, Then it is a bare InternalServerException
    with (
        local_api.settings(BATCHEVAL_JOBS_TABLE="no-such-table"),
        pytest.raises(agentcore.exceptions.InternalServerException) as exc,
    ):
        agentcore.list_batch_evaluations()
    response = exc.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    message = response["Error"]["Message"]
    assert "no-such-table" not in message
    assert "Traceback" not in message
    assert "dynamodb" not in message.lower()
    # And the service recovers once configured again
    assert job_ids(agentcore) == []
