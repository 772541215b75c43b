"""Start is idempotent on clientToken."""

from __future__ import annotations

import uuid

import pytest

from tests.contract.support import job_ids, no_state_change, start_request


def test_a_retry_with_the_same_token_returns_the_same_job(agentcore):
    # Given a Start with an explicit clientToken
    token = str(uuid.uuid4())
    first = agentcore.start_batch_evaluation(**start_request("retry_me"), clientToken=token)
    # When the same request is retried with the same token
    second = agentcore.start_batch_evaluation(**start_request("retry_me"), clientToken=token)
    # Then it answers with the same job and no second job exists
    assert second["batchEvaluationId"] == first["batchEvaluationId"]
    assert second["createdAt"] == first["createdAt"]
    assert job_ids(agentcore) == [first["batchEvaluationId"]]


def test_the_same_token_with_a_different_request_is_a_conflict(agentcore):
    token = str(uuid.uuid4())
    agentcore.start_batch_evaluation(**start_request("first_name"), clientToken=token)
    with no_state_change(agentcore), pytest.raises(agentcore.exceptions.ConflictException):
        agentcore.start_batch_evaluation(**start_request("other_name"), clientToken=token)


def test_boto3_fills_a_token_so_two_plain_starts_are_two_requests(agentcore):
    # Given boto3 generates a fresh token per call, When the caller starts twice with one name
    agentcore.start_batch_evaluation(**start_request("same_name"))
    # Then the second is a name conflict, not a replay
    with no_state_change(agentcore), pytest.raises(agentcore.exceptions.ConflictException):
        agentcore.start_batch_evaluation(**start_request("same_name"))
