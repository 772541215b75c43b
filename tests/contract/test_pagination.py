"""ListBatchEvaluations: newest first, pages of maxResults, opaque tokens bound to their tenant."""

from __future__ import annotations

import base64

import pytest

from tests.contract.support import job_ids, start_request


@pytest.fixture
def five_jobs(agentcore):
    ids = [
        agentcore.start_batch_evaluation(**start_request(f"job_{n}"))["batchEvaluationId"] for n in range(5)
    ]
    return list(reversed(ids))  # newest first


def test_pages_follow_each_other_newest_first(agentcore, five_jobs):
    # When the caller lists two at a time
    pages = []
    token = None
    while True:
        kwargs = {"maxResults": 2} | ({"nextToken": token} if token else {})
        page = agentcore.list_batch_evaluations(**kwargs)
        pages.append([job["batchEvaluationId"] for job in page["batchEvaluations"]])
        token = page.get("nextToken")
        if not token:
            break
    # Then every job appears once, newest first, in pages of at most two
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [job for page in pages for job in page] == five_jobs


def test_the_boto3_paginator_walks_all_pages(agentcore, five_jobs):
    paginator = agentcore.get_paginator("list_batch_evaluations")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 3}))
    assert [len(page["batchEvaluations"]) for page in pages] == [3, 2]
    assert job_ids(agentcore) == five_jobs


def test_another_tenant_cannot_use_a_page_token(local_api, agentcore, five_jobs, other_tenant):
    token = agentcore.list_batch_evaluations(maxResults=2)["nextToken"]
    other = local_api.client(other_tenant)
    with pytest.raises(other.exceptions.ValidationException) as exc:
        other.list_batch_evaluations(nextToken=token)
    assert exc.value.response["fieldList"][0]["name"] == "nextToken"


def test_a_tampered_page_token_is_rejected(agentcore, five_jobs):
    token = agentcore.list_batch_evaluations(maxResults=2)["nextToken"]
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[len(raw) // 2] ^= 0x01
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for bad in (forged, "not-a-token", token[:-4]):
        with pytest.raises(agentcore.exceptions.ValidationException):
            agentcore.list_batch_evaluations(nextToken=bad)


@pytest.mark.parametrize("max_results", [0, 101, -1])
def test_max_results_out_of_range_is_a_validation_error(agentcore, max_results):
    with pytest.raises(agentcore.exceptions.ValidationException) as exc:
        agentcore.list_batch_evaluations(maxResults=max_results)
    assert [field["name"] for field in exc.value.response["fieldList"]] == ["maxResults"]
