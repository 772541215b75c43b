"""The deployment's typed configuration, read from cdk.json context or a JSON config file.

Context key `batcheval` holds the settings; `-c batchevalConfigFile=path.json` reads them from a
file instead (the file wins over the context key). Every problem is reported with the key that
caused it (`batcheval.schedules[0].expression: ...`), all at once, before anything is synthesized.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONTEXT_KEY = "batcheval"
CONFIG_FILE_CONTEXT_KEY = "batchevalConfigFile"

AccountId = Annotated[str, Field(pattern=r"^[0-9]{12}$")]
_NAME = r"^[a-z][a-z0-9-]{0,19}$"
_SCHEDULE_EXPRESSION = re.compile(
    r"^(cron\(.+\)|rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|at\(.+\))$"
)


class ConfigError(ValueError):
    """The configuration is invalid; the message names every bad key."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Quotas(_Model):
    """Per-account job quotas (the API's `BATCHEVAL_MAX_*`)."""

    maxActiveJobs: int = Field(default=5, ge=1)
    maxStoredJobs: int = Field(default=2000, ge=1)


class Judge(_Model):
    """The judge model the pipeline calls, and how hard it may be driven (`BATCHEVAL_JUDGE_*`)."""

    modelIds: list[str] = Field(
        default_factory=lambda: ["anthropic.claude-haiku-4-5-20251001-v1:0"],
        min_length=1,
        description="Bedrock model or inference profile ids the pipeline may invoke; the first is used.",
    )
    tokensPerMinute: float | None = Field(default=None, gt=0)
    maxInFlight: int = Field(default=16, ge=1)


class ApiThrottle(_Model):
    """Stage throttling, as AgentCore's published rates (Start/Stop/Delete 3 TPS, Get/List 60 TPS)."""

    mutatingRateLimit: float = Field(default=3, gt=0)
    readRateLimit: float = Field(default=60, gt=0)
    burstLimit: int = Field(default=20, ge=1)


class RelativeWindow(_Model):
    """The time range of a scheduled job, relative to the scheduled time: `[t - lookback, t - settle]`."""

    lookbackMinutes: int = Field(default=24 * 60, ge=1, le=14 * 24 * 60)
    settleMinutes: int = Field(default=10, ge=0, le=24 * 60)


class Schedule(_Model):
    """One EventBridge Scheduler schedule that starts a batch evaluation job."""

    name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_]{0,29}$", description="Also the job name prefix.")
    expression: str = Field(description="cron(...) or rate(...), as EventBridge Scheduler takes them.")
    timezone: str = "UTC"
    ownerAccountId: AccountId | None = Field(
        default=None, description="The account the jobs belong to; default the service's own."
    )
    window: RelativeWindow = Field(default_factory=RelativeWindow)
    flexibleWindowMinutes: int = Field(default=0, ge=0, le=1440)
    enabled: bool = True
    job: dict[str, Any] = Field(
        description="A StartBatchEvaluation request without batchEvaluationName, clientToken and "
        "dataSourceConfig.cloudWatchLogs.filterConfig.timeRange (the schedule fills those in)."
    )

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str) -> str:
        if not _SCHEDULE_EXPRESSION.match(value):
            raise ValueError("must be cron(...) or rate(<n> minutes|hours|days)")
        return value

    @field_validator("job")
    @classmethod
    def _job(cls, value: dict[str, Any]) -> dict[str, Any]:
        for reserved in ("batchEvaluationName", "clientToken"):
            if reserved in value:
                raise ValueError(f"must not set {reserved}: the schedule derives it per run")
        logs = (value.get("dataSourceConfig") or {}).get("cloudWatchLogs")
        if not isinstance(logs, dict):
            raise ValueError("needs dataSourceConfig.cloudWatchLogs (a schedule reads recent traces)")
        if "timeRange" in (logs.get("filterConfig") or {}):
            raise ValueError("must not set filterConfig.timeRange: the schedule's window sets it")
        if not value.get("evaluators"):
            raise ValueError("needs at least one evaluator")
        return value


class BatchEvalConfig(_Model):
    """Everything a deployment may choose. Defaults give a working, locked-down stack."""

    stage: str = Field(default="prod", pattern=_NAME)
    allowedAccountIds: list[AccountId] = Field(
        default_factory=list, description="Accounts that may call the API (besides this one)."
    )
    allowedOrganizationId: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$")
    callerRoleName: str = Field(default="batcheval-caller-access", pattern=r"^[\w+=,.@-]{1,64}$")
    callerExternalId: str | None = Field(
        default=None,
        min_length=2,
        max_length=1224,
        pattern=r"^[\w+=,.@:/-]+$",
        description="ExternalId the pipeline passes; default `batcheval-<service account id>`.",
    )
    traceLogGroupNames: list[str] = Field(
        default_factory=lambda: ["aws/spans", "/aws/bedrock-agentcore/runtimes/*"],
        min_length=1,
        description="Log groups (a trailing * is a prefix) the pipeline may read traces from.",
    )
    outputLogGroupNames: list[str] = Field(
        default_factory=lambda: ["/aws/bedrock-agentcore/evaluations/*"],
        min_length=1,
        description="Log groups the pipeline may write per-session results to.",
    )
    evaluatorFunctionArns: list[str] = Field(
        default_factory=list, description="Custom code-evaluator Lambda functions the pipeline may invoke."
    )
    quotas: Quotas = Field(default_factory=Quotas)
    judge: Judge = Field(default_factory=Judge)
    apiThrottle: ApiThrottle = Field(default_factory=ApiThrottle)
    schedules: list[Schedule] = Field(default_factory=list)
    logRetentionDays: Literal[
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653
    ] = 90
    deletedDataRetentionDays: int = Field(
        default=7, ge=1, description="Days S3 keeps a deleted job's data (noncurrent versions)."
    )
    alarmEmail: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    pipelineMemoryMb: int = Field(default=1024, ge=128, le=10240)
    pipelineTimeoutSeconds: int = Field(default=900, ge=60, le=900)

    @model_validator(mode="after")
    def _unique_schedules(self) -> BatchEvalConfig:
        names = [schedule.name for schedule in self.schedules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"schedule names must be unique: {', '.join(duplicates)}")
        return self

    @property
    def resource_prefix(self) -> str:
        """Prefix of every named resource: `batcheval-<stage>`."""
        return f"batcheval-{self.stage}"


def _location(loc: tuple[int | str, ...]) -> str:
    text = CONTEXT_KEY
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def parse_config(raw: Mapping[str, Any] | None) -> BatchEvalConfig:
    """Validate `raw` (the `batcheval` settings); ConfigError lists every bad key."""
    try:
        return BatchEvalConfig.model_validate(dict(raw or {}))
    except ValidationError as error:
        problems = [f"{_location(problem['loc'])}: {problem['msg']}" for problem in error.errors()]
        raise ConfigError("invalid batcheval configuration:\n  " + "\n  ".join(problems)) from error


def load_config(context: Mapping[str, Any]) -> BatchEvalConfig:
    """The configuration from CDK context (`try_get_context` values passed as a mapping)."""
    path = context.get(CONFIG_FILE_CONTEXT_KEY)
    if path:
        try:
            raw = json.loads(Path(str(path)).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(f"{CONFIG_FILE_CONTEXT_KEY}: cannot read {path}: {error}") from error
        return parse_config(raw)
    value = context.get(CONTEXT_KEY)
    if value is not None and not isinstance(value, Mapping):
        raise ConfigError(f"{CONTEXT_KEY}: must be an object")
    return parse_config(value)
