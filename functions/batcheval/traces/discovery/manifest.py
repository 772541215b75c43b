"""The S3 JSONL manifest of session references a Distributed Map's ItemReader reads (InputType JSONL)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from batcheval.traces.discovery.refs import SessionRef

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def manifest_body(refs: Iterable[SessionRef]) -> bytes:
    return msgspec.json.Encoder().encode_lines([ref.to_json() for ref in refs])


def write_manifest(
    s3: S3Client, bucket: str, key: str, refs: Iterable[SessionRef], *, kms_key_id: str | None = None
) -> int:
    """Write the manifest with SSE-KMS (the given key, else the bucket's AWS-managed key); returns lines."""
    body = manifest_body(refs)
    extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms"}
    if kms_key_id:
        extra["SSEKMSKeyId"] = kms_key_id
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/jsonl", **extra)
    return body.count(b"\n")


def read_manifest(s3: S3Client, bucket: str, key: str) -> list[SessionRef]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return [SessionRef.from_json(msgspec.json.decode(line)) for line in body.splitlines() if line.strip()]
