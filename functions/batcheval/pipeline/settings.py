"""Settings of the pipeline's step Lambdas: one typed model, read from `BATCHEVAL_*` once per cold start.

Infra and the local orchestrator read the same model (e.g. `max_items_per_batch`), so a knob has one
name and one default everywhere. A bad or missing value fails the cold start with the variable named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic import ValidationError as PydanticValidationError

from batcheval.aws import CallerAccessSettings
from batcheval.judges.settings import JudgeSettings
from batcheval.settings import invalid_settings, variable_names
from batcheval.traces.discovery.filter_events import DEFAULT_LOAD_MARGIN_S


class PipelineSettings(CallerAccessSettings, extra="ignore"):
    """Each field's variable is its alias (`ENVIRONMENT` lists them); the caller-access fields
    (`BATCHEVAL_SERVICE_ACCOUNT_ID`, `_CALLER_ROLE_NAME`, `_CALLER_EXTERNAL_ID`, `_PARTITION`) and
    `caller_access()` come from `CallerAccessSettings`, the judge's from `JudgeSettings`."""

    jobs_table: str = Field(min_length=1, validation_alias="BATCHEVAL_JOBS_TABLE")
    payload_bucket: str = Field(min_length=1, validation_alias="BATCHEVAL_PAYLOAD_BUCKET")
    kms_key_arn: str = Field(min_length=1, validation_alias="BATCHEVAL_KMS_KEY_ARN")
    region: str = Field(min_length=1, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    aws_endpoint_url: str | None = Field(default=None, validation_alias="BATCHEVAL_AWS_ENDPOINT_URL")
    """Only for the embedded emulator; None means the real AWS endpoints."""
    state_machine_arn: str | None = Field(default=None, validation_alias="BATCHEVAL_STATE_MACHINE_ARN")
    """Lets the finalizer re-start jobs whose Start crashed before their run began."""
    evaluators_table: str | None = Field(default=None, validation_alias="BATCHEVAL_EVALUATORS_TABLE")
    """Custom evaluator definitions (DynamoEvaluatorStore); None: built-in evaluators only."""
    discovery: Literal["insights", "filter"] = Field(
        default="insights", validation_alias="BATCHEVAL_DISCOVERY"
    )
    """`insights` (Logs Insights, AWS) or `filter` (FilterLogEvents: the embedded emulator)."""
    max_sessions: int = Field(default=10_000, ge=1, validation_alias="BATCHEVAL_MAX_SESSIONS")
    settle_seconds: float = Field(default=300.0, ge=0, validation_alias="BATCHEVAL_SETTLE_SECONDS")
    lookback_days: float = Field(default=30.0, gt=0, validation_alias="BATCHEVAL_LOOKBACK_DAYS")
    filter_load_margin_seconds: float = Field(
        default=DEFAULT_LOAD_MARGIN_S, ge=0, validation_alias="BATCHEVAL_FILTER_LOAD_MARGIN_SECONDS"
    )
    """`filter` discovery: how far past a batch's last span its loading scan reaches. It only covers
    split-mode event records stamped seconds after their span (see `DEFAULT_LOAD_MARGIN_S`); each batch
    scans its sessions' window plus this on each side, so smaller is faster on the emulator."""
    max_items_per_batch: int = Field(
        default=25, ge=1, le=1000, validation_alias="BATCHEVAL_MAX_ITEMS_PER_BATCH"
    )
    """Sessions per score-batch invocation (the ASL's ItemBatcher literal must match)."""
    max_concurrency: int = Field(default=10, ge=1, validation_alias="BATCHEVAL_MAX_CONCURRENCY")
    deadline_safety_ms: int = Field(default=20_000, ge=0, validation_alias="BATCHEVAL_DEADLINE_SAFETY_MS")
    """Kept free at the end of a score-batch invocation for its commit."""
    stop_check_seconds: float = Field(default=2.0, ge=0, validation_alias="BATCHEVAL_STOP_CHECK_SECONDS")
    evaluator_workers: int = Field(default=8, ge=1, validation_alias="BATCHEVAL_EVALUATOR_WORKERS")
    stranded_grace_seconds: float = Field(
        default=300.0, ge=0, validation_alias="BATCHEVAL_STRANDED_GRACE_SECONDS"
    )
    max_active_jobs: int = Field(default=5, ge=0, validation_alias="BATCHEVAL_MAX_ACTIVE_JOBS")
    max_stored_jobs: int = Field(default=2000, ge=0, validation_alias="BATCHEVAL_MAX_STORED_JOBS")
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    """Read by `JudgeSettings.from_env` (its own variables); no variable of its own."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineSettings:
        """Raises: batcheval.errors.ValidationError naming each bad variable (the judge's first)."""
        judge = JudgeSettings.from_env(environ)
        try:
            return cls.read_environment(environ, judge=judge)
        except PydanticValidationError as error:
            raise invalid_settings("pipeline settings", error) from error


ENVIRONMENT: dict[str, str] = variable_names(PipelineSettings)
"""Field name → environment variable (infra and its tests read it)."""
