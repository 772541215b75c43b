"""Two tenants cannot see, stop or delete each other's jobs; a foreign id answers like a missing one."""

from __future__ import annotations

import pytest

from tests.contract.support import job_ids, start_request


def test_tenants_are_isolated(local_api, agentcore, other_tenant):
    # Given Alice (agentcore) has a job, and Bob is another account on the same API
    job_id = agentcore.start_batch_evaluation(**start_request("alices_job"))["batchEvaluationId"]
    bob = local_api.client(other_tenant)
    # Then Bob's list does not show it
    assert job_ids(bob) == []
    # And Get/Stop/Delete answer exactly like for an id that never existed
    missing = "never_existed-abcdefghij"
    for call in ("get_batch_evaluation", "stop_batch_evaluation", "delete_batch_evaluation"):
        with pytest.raises(bob.exceptions.ResourceNotFoundException) as foreign:
            getattr(bob, call)(batchEvaluationId=job_id)
        with pytest.raises(bob.exceptions.ResourceNotFoundException) as absent:
            getattr(bob, call)(batchEvaluationId=missing)
        assert foreign.value.response["Error"]["Message"].replace(job_id, "ID") == absent.value.response[
            "Error"
        ]["Message"].replace(missing, "ID")
    # And Alice's job is untouched
    assert agentcore.get_batch_evaluation(batchEvaluationId=job_id)["status"] == "PENDING"
    assert job_ids(agentcore) == [job_id]


def test_the_same_name_may_be_used_by_two_tenants(local_api, agentcore, other_tenant):
    bob = local_api.client(other_tenant)
    alice_job = agentcore.start_batch_evaluation(**start_request("shared_name"))
    bob_job = bob.start_batch_evaluation(**start_request("shared_name"))
    assert alice_job["batchEvaluationId"] != bob_job["batchEvaluationId"]
    assert f":{other_tenant.account_id}:" in bob_job["batchEvaluationArn"]
