"""Settings of the pipeline's step Lambdas: one typed model, read from `BATCHEVAL_*` once per cold start.

Infra and the local orchestrator read the same model (e.g. `max_items_per_batch`), so a knob has one
name and one default everywhere. A bad or missing value fails the cold start with the variable named.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from batcheval.aws import DEFAULT_CALLER_ROLE_NAME, CallerAccess
from batcheval.errors import FieldIssue, ValidationError
from batcheval.judges.settings import JudgeSettings
from batcheval.traces.discovery.filter_events import DEFAULT_LOAD_MARGIN_S

# field name → environment variable
ENVIRONMENT: dict[str, str] = {
    "jobs_table": "BATCHEVAL_JOBS_TABLE",
    "payload_bucket": "BATCHEVAL_PAYLOAD_BUCKET",
    "kms_key_arn": "BATCHEVAL_KMS_KEY_ARN",
    "region": "AWS_REGION",
    "aws_endpoint_url": "BATCHEVAL_AWS_ENDPOINT_URL",
    "partition": "BATCHEVAL_PARTITION",
    "state_machine_arn": "BATCHEVAL_STATE_MACHINE_ARN",
    "evaluators_table": "BATCHEVAL_EVALUATORS_TABLE",
    "discovery": "BATCHEVAL_DISCOVERY",
    "max_sessions": "BATCHEVAL_MAX_SESSIONS",
    "settle_seconds": "BATCHEVAL_SETTLE_SECONDS",
    "lookback_days": "BATCHEVAL_LOOKBACK_DAYS",
    "filter_load_margin_seconds": "BATCHEVAL_FILTER_LOAD_MARGIN_SECONDS",
    "max_items_per_batch": "BATCHEVAL_MAX_ITEMS_PER_BATCH",
    "max_concurrency": "BATCHEVAL_MAX_CONCURRENCY",
    "deadline_safety_ms": "BATCHEVAL_DEADLINE_SAFETY_MS",
    "stop_check_seconds": "BATCHEVAL_STOP_CHECK_SECONDS",
    "evaluator_workers": "BATCHEVAL_EVALUATOR_WORKERS",
    "stranded_grace_seconds": "BATCHEVAL_STRANDED_GRACE_SECONDS",
    "max_active_jobs": "BATCHEVAL_MAX_ACTIVE_JOBS",
    "max_stored_jobs": "BATCHEVAL_MAX_STORED_JOBS",
    "service_account_id": "BATCHEVAL_SERVICE_ACCOUNT_ID",
    "caller_role_name": "BATCHEVAL_CALLER_ROLE_NAME",
    "caller_external_id": "BATCHEVAL_CALLER_EXTERNAL_ID",
}


class PipelineSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    jobs_table: str = Field(min_length=1)
    payload_bucket: str = Field(min_length=1)
    kms_key_arn: str = Field(min_length=1)
    region: str = Field(min_length=1)
    aws_endpoint_url: str | None = None
    """Only for the embedded emulator; None means the real AWS endpoints."""
    partition: str = "aws"
    state_machine_arn: str | None = None
    """Lets the finalizer re-start jobs whose Start crashed before their run began."""
    evaluators_table: str | None = None
    """Custom evaluator definitions (DynamoEvaluatorStore); None: built-in evaluators only."""
    discovery: Literal["insights", "filter"] = "insights"
    """`insights` (Logs Insights, AWS) or `filter` (FilterLogEvents: the embedded emulator)."""
    max_sessions: int = Field(default=10_000, ge=1)
    settle_seconds: float = Field(default=300.0, ge=0)
    lookback_days: float = Field(default=30.0, gt=0)
    filter_load_margin_seconds: float = Field(default=DEFAULT_LOAD_MARGIN_S, ge=0)
    """`filter` discovery: how far past a batch's last span its loading scan reaches. It only covers
    split-mode event records stamped seconds after their span (see `DEFAULT_LOAD_MARGIN_S`); each batch
    scans its sessions' window plus this on each side, so smaller is faster on the emulator."""
    max_items_per_batch: int = Field(default=25, ge=1, le=1000)
    """Sessions per score-batch invocation (the ASL's ItemBatcher literal must match)."""
    max_concurrency: int = Field(default=10, ge=1)
    deadline_safety_ms: int = Field(default=20_000, ge=0)
    """Kept free at the end of a score-batch invocation for its commit."""
    stop_check_seconds: float = Field(default=2.0, ge=0)
    evaluator_workers: int = Field(default=8, ge=1)
    stranded_grace_seconds: float = Field(default=300.0, ge=0)
    max_active_jobs: int = Field(default=5, ge=0)
    max_stored_jobs: int = Field(default=2000, ge=0)
    service_account_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    """The stack's account: jobs of other owners run on a role assumed in their account. None: every
    owner is served with the service's own credentials (a single-account deployment, the emulator)."""
    caller_role_name: str = DEFAULT_CALLER_ROLE_NAME
    caller_external_id: str | None = None
    """None: `batcheval-<service account id>` (the CDK default of `callerExternalId`)."""
    judge: JudgeSettings = Field(default_factory=JudgeSettings)

    def caller_access(self) -> CallerAccess | None:
        if self.service_account_id is None:
            return None
        return CallerAccess(
            service_account=self.service_account_id,
            role_name=self.caller_role_name,
            external_id=self.caller_external_id,
            partition=self.partition,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineSettings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {field: env[name] for field, name in ENVIRONMENT.items() if env.get(name)}
        if "region" not in values and env.get("AWS_DEFAULT_REGION"):
            values["region"] = env["AWS_DEFAULT_REGION"]
        values["judge"] = JudgeSettings.from_env(env)
        try:
            return cls.model_validate(values)
        except PydanticValidationError as error:
            issues = [
                FieldIssue(ENVIRONMENT.get(str(problem["loc"][0]), str(problem["loc"][0])), problem["msg"])
                for problem in error.errors()
            ]
            names = ", ".join(issue.name for issue in issues)
            raise ValidationError(f"invalid pipeline settings: {names}", fields=issues) from error
