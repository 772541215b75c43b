"""Job payloads in S3: the full Start request (ground truth included), SSE-KMS encrypted.

The DynamoDB item stays small (a 500-session ground truth with 100,000-character texts does not
fit in 400 KB); it keeps a pointer (`SpecLocation`). Objects are encrypted with the caller's key
from the request or the stack key, under an encryption context naming the job ARN, so a key
policy can restrict use to batch-evaluation data.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

import msgspec
from botocore.exceptions import ClientError

from batcheval.errors import DeleteIncompleteError, FieldIssue, ValidationError
from batcheval.jobs.records import SpecLocation

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

ENCRYPTION_CONTEXT_KEY = "batcheval:batchEvaluationArn"
SPEC_OBJECT = "request.json"
# A dataSourceConfig too large for the item, stored alone so Get never reads the ground truth.
DATA_SOURCE_OBJECT = "data-source.json"
DELETE_ATTEMPTS = 4
# The S3 JSONL manifest of the sessions a run scores (the Distributed Map's ItemReader source).
MANIFEST_OBJECT = "manifest.jsonl"


def job_prefix(owner: str, job_id: str) -> str:
    return f"jobs/{owner}/{job_id}/"


def encryption_context(job_arn: str) -> dict[str, str]:
    return {ENCRYPTION_CONTEXT_KEY: job_arn}


class PayloadStore:
    def __init__(self, s3: S3Client, kms: KMSClient, bucket: str) -> None:
        self._s3 = s3
        self._kms = kms
        self._bucket = bucket

    def check_key(self, key_arn: str) -> None:
        """Reject a caller key we could not encrypt with, before anything is stored."""

        def invalid(message: str) -> ValidationError:
            return ValidationError(message, fields=[FieldIssue("kmsKeyArn", message)])

        try:
            metadata = self._kms.describe_key(KeyId=key_arn)["KeyMetadata"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise invalid(f"The KMS key cannot be used ({code}).") from error
        if metadata.get("KeyState") != "Enabled":
            raise invalid(f"The KMS key is {metadata.get('KeyState')}, not Enabled.")
        # SYMMETRIC_DEFAULT is the only spec usable for encryption by S3 (implies ENCRYPT_DECRYPT).
        if metadata.get("KeySpec") != "SYMMETRIC_DEFAULT":
            raise invalid("The KMS key must be a symmetric encryption key.")

    def put_spec(
        self,
        *,
        owner: str,
        job_id: str,
        job_arn: str,
        kms_key_arn: str,
        spec: Any,
        data_source: Any = None,
    ) -> SpecLocation:
        """Store the request; `data_source` (when given) also alone, for `get_data_source`."""
        prefix = job_prefix(owner, job_id)
        context = base64.b64encode(msgspec.json.encode(encryption_context(job_arn))).decode()
        objects = {SPEC_OBJECT: spec} | ({DATA_SOURCE_OBJECT: data_source} if data_source is not None else {})
        for name, content in objects.items():
            self._s3.put_object(
                Bucket=self._bucket,
                Key=prefix + name,
                Body=msgspec.json.encode(content),
                ContentType="application/json",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=kms_key_arn,
                SSEKMSEncryptionContext=context,
                BucketKeyEnabled=False,  # see put_job_object
            )
        return SpecLocation(bucket=self._bucket, key=prefix + SPEC_OBJECT, kms_key_arn=kms_key_arn)

    def get_spec(self, location: SpecLocation) -> Any:
        return self._get(location.bucket, location.key)

    def get_data_source(self, location: SpecLocation) -> Any:
        """The dataSourceConfig stored next to the spec by `put_spec(data_source=...)`."""
        return self._get(location.bucket, location.key.rsplit("/", 1)[0] + "/" + DATA_SOURCE_OBJECT)

    def _get(self, bucket: str, key: str) -> Any:
        return msgspec.json.decode(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def put_job_object(
        self,
        *,
        owner: str,
        job_id: str,
        job_arn: str,
        kms_key_arn: str,
        name: str,
        body: bytes,
        content_type: str,
    ) -> str:
        """Store `body` as `jobs/<owner>/<jobId>/<name>` (SSE-KMS, job-ARN context); returns the key."""
        key = job_prefix(owner, job_id) + name
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key_arn,
            SSEKMSEncryptionContext=base64.b64encode(
                msgspec.json.encode(encryption_context(job_arn))
            ).decode(),
            # With an S3 Bucket Key, S3 calls KMS under the bucket ARN instead of this context, and a
            # caller's key policy that allows only batch-evaluation data (conditioned on the job ARN)
            # would refuse: job objects are encrypted per object, the bucket's key serves the rest.
            BucketKeyEnabled=False,
        )
        return key

    def read(self, key: str) -> bytes | None:
        """An object of the payload bucket; None when it does not exist."""
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise

    def keys_under(self, prefix: str) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        return [
            entry["Key"]
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix)
            for entry in page.get("Contents", [])
            if "Key" in entry
        ]

    @property
    def bucket(self) -> str:
        return self._bucket

    def uri(self, key: str) -> str:
        return f"s3://{self._bucket}/{key}"

    def delete_job_objects(self, owner: str, job_id: str) -> int:
        """Delete every object stored for the job; returns how many were deleted.

        DeleteObjects answers per key: every reported error is retried, and keys still failing after
        the last attempt raise (the Delete fails, the job stays DELETING, the next Delete finishes).
        """
        deleted = 0
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=job_prefix(owner, job_id)):
            keys = [entry["Key"] for entry in page.get("Contents", []) if "Key" in entry]
            for attempt in range(DELETE_ATTEMPTS):
                if not keys:
                    break
                objects: list[ObjectIdentifierTypeDef] = [{"Key": key} for key in keys]
                response = self._s3.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True}
                )
                failed = [error["Key"] for error in response.get("Errors", []) if "Key" in error]
                deleted += len(keys) - len(failed)
                keys = failed
                if keys and attempt + 1 < DELETE_ATTEMPTS:
                    time.sleep(0.1 * 2**attempt)
            if keys:
                raise DeleteIncompleteError(
                    f"{len(keys)} stored objects of batch evaluation {job_id} could not be deleted; "
                    "call DeleteBatchEvaluation again."
                )
        return deleted
