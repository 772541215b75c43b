"""Settings of the API Lambda functions, read from the environment once per cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    jobs_table: str = Field(min_length=1)
    payload_bucket: str = Field(min_length=1)
    # The stack key: protects job payloads when a request names no kmsKeyArn, and list tokens.
    kms_key_arn: str = Field(min_length=1)
    region: str = Field(min_length=1)
    # Only for the embedded emulator (local runtime); None means the real AWS endpoints.
    aws_endpoint_url: str | None = None
    max_active_jobs: int = Field(default=5, ge=0)
    max_stored_jobs: int = Field(default=2000, ge=0)
    partition: str = "aws"
    # The pipeline's state machine: Start runs each job there; None = jobs are not run (NoOpStarter).
    state_machine_arn: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        """Read `BATCHEVAL_*` and the Lambda region variables; a missing one is a startup error."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "jobs_table": env.get("BATCHEVAL_JOBS_TABLE"),
            "payload_bucket": env.get("BATCHEVAL_PAYLOAD_BUCKET"),
            "kms_key_arn": env.get("BATCHEVAL_KMS_KEY_ARN"),
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            "aws_endpoint_url": env.get("BATCHEVAL_AWS_ENDPOINT_URL") or None,
        }
        optional = {
            "max_active_jobs": "BATCHEVAL_MAX_ACTIVE_JOBS",
            "max_stored_jobs": "BATCHEVAL_MAX_STORED_JOBS",
            "partition": "BATCHEVAL_PARTITION",
            "state_machine_arn": "BATCHEVAL_STATE_MACHINE_ARN",
        }
        values.update({field: env[name] for field, name in optional.items() if env.get(name)})
        return cls.model_validate(values)
