"""Job objects keep the job-ARN encryption context that caller key policies rely on."""

from __future__ import annotations

import pytest

from batcheval.aws import AwsClients
from batcheval.jobs.payloads import PayloadStore
from tests.unit.jobs.conftest import BUCKET, OWNER


@pytest.mark.parametrize("kind", ["spec", "job object"])
def test_job_objects_are_encrypted_per_object_not_with_the_buckets_s3_bucket_key(
    clients: AwsClients, stack_key: str, kind: str
) -> None:
    # Given the payload store (the deployed bucket has S3 Bucket Keys on, which would replace the
    # request's encryption context with the bucket ARN)
    s3 = clients.client("s3")
    store = PayloadStore(s3, clients.client("kms"), BUCKET)
    arn = f"arn:aws:bedrock-agentcore:us-east-1:{OWNER}:batch-evaluate/job-0123456789"
    # When a job's spec or another job object is stored
    if kind == "spec":
        key = store.put_spec(
            owner=OWNER, job_id="job-0123456789", job_arn=arn, kms_key_arn=stack_key, spec={}
        ).key
    else:
        key = store.put_job_object(
            owner=OWNER,
            job_id="job-0123456789",
            job_arn=arn,
            kms_key_arn=stack_key,
            name="results/part.jsonl",
            body=b"{}\n",
            content_type="application/jsonl",
        )
    # Then it is SSE-KMS under the job's key with the bucket key turned off for it
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["SSEKMSKeyId"] == stack_key
    assert head["BucketKeyEnabled"] is False
