"""Concurrent callers through the threaded server: retries and quotas stay exact."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.contract.support import job_ids, start_request

THREADS = 8


def test_concurrent_retries_with_one_token_create_one_job(agentcore):
    # Given eight copies of one Start request (a client retrying on timeouts), sent at once
    token = str(uuid.uuid4())
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(
            pool.map(
                lambda _: agentcore.start_batch_evaluation(**start_request("raced"), clientToken=token),
                range(THREADS),
            )
        )
    # Then they all name the same job, and only one exists
    assert len({answer["batchEvaluationId"] for answer in answers}) == 1
    assert job_ids(agentcore) == [answers[0]["batchEvaluationId"]]


def test_the_active_jobs_quota_holds_under_concurrent_starts(local_api, agentcore):
    # Given a quota of three active jobs, When eight different jobs start at once
    def start(n: int) -> str:
        try:
            agentcore.start_batch_evaluation(**start_request(f"rush_{n}"))
        except agentcore.exceptions.ServiceQuotaExceededException:
            return "quota"
        return "started"

    with local_api.settings(BATCHEVAL_MAX_ACTIVE_JOBS="3"), ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(start, range(THREADS)))
    # Then exactly three were accepted and stored
    assert outcomes.count("started") == 3
    assert outcomes.count("quota") == THREADS - 3
    assert len(job_ids(agentcore)) == 3
