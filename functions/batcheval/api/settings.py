"""Settings of the API Lambda functions, read from the environment once per cold start."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from batcheval.settings import EnvironmentSettings


class ApiSettings(EnvironmentSettings, extra="ignore"):
    """`BATCHEVAL_*` and the Lambda region variables; a missing one is a startup error
    (`ApiSettings.from_env()` raises pydantic's ValidationError, its `loc` the variable)."""

    jobs_table: str = Field(min_length=1, validation_alias="BATCHEVAL_JOBS_TABLE")
    payload_bucket: str = Field(min_length=1, validation_alias="BATCHEVAL_PAYLOAD_BUCKET")
    # The stack key: protects job payloads when a request names no kmsKeyArn, and list tokens.
    kms_key_arn: str = Field(min_length=1, validation_alias="BATCHEVAL_KMS_KEY_ARN")
    region: str = Field(min_length=1, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    # Only for the embedded emulator (local runtime); None means the real AWS endpoints.
    aws_endpoint_url: str | None = Field(default=None, validation_alias="BATCHEVAL_AWS_ENDPOINT_URL")
    max_active_jobs: int = Field(default=5, ge=0, validation_alias="BATCHEVAL_MAX_ACTIVE_JOBS")
    max_stored_jobs: int = Field(default=2000, ge=0, validation_alias="BATCHEVAL_MAX_STORED_JOBS")
    partition: str = Field(default="aws", validation_alias="BATCHEVAL_PARTITION")
    # The pipeline's state machine: Start runs each job there; None = jobs are not run (NoOpStarter).
    state_machine_arn: str | None = Field(default=None, validation_alias="BATCHEVAL_STATE_MACHINE_ARN")
