"""Judge settings for a Lambda function: read once at cold start, then `build_judge`.

The function's own settings model holds a `JudgeSettings`; `JudgeSettings.from_env()` reads the
`BATCHEVAL_JUDGE_*` variables and the backends' own (`BATCHEVAL_BEDROCK_MODEL_ID`,
`BATCHEVAL_OPENAI_MODEL`, `BATCHEVAL_OPENAI_API_KEY` else `OPENAI_API_KEY`; names below) and rejects
bad values with a clear error. The judge factory reads no environment: these are passed explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic import ValidationError as PydanticValidationError

from batcheval.aws import AwsClients
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import Judge
from batcheval.settings import EnvironmentSettings, invalid_settings


class JudgeSettings(EnvironmentSettings, extra="forbid"):
    """Which judge, and how hard it may be driven. Each field's variable is its alias."""

    spec: str = Field(default="bedrock", validation_alias="BATCHEVAL_JUDGE_SPEC")
    """`bedrock` or `openai:<base URL>`."""
    model_id: str | None = Field(default=None, validation_alias="BATCHEVAL_JUDGE_MODEL_ID")
    tokens_per_minute: float | None = Field(
        default=None, gt=0, validation_alias="BATCHEVAL_JUDGE_TOKENS_PER_MINUTE"
    )
    """The model's TPM quota; None: in-flight cap only."""
    max_in_flight: int = Field(default=16, ge=1, validation_alias="BATCHEVAL_JUDGE_MAX_IN_FLIGHT")
    burn_factor: float | None = Field(default=None, gt=0, validation_alias="BATCHEVAL_JUDGE_BURN_FACTOR")
    """Output-token weight against the quota; None derives it from the model id. Set it (5) for
    Claude behind an application inference profile ARN, whose id does not name the model."""
    bucket_table: str | None = Field(default=None, validation_alias="BATCHEVAL_JUDGE_BUCKET_TABLE")
    """DynamoDB table shared by every invocation's rate limiter (TPM bucket, `max_in_flight` slot
    leases and the queue of waiting calls); None: in-process only (`max_in_flight` per process)."""
    timeout_s: float = Field(default=60.0, gt=0, validation_alias="BATCHEVAL_JUDGE_TIMEOUT_S")
    bedrock_model_id: str | None = Field(default=None, validation_alias="BATCHEVAL_BEDROCK_MODEL_ID")
    """The Bedrock model when `model_id` is unset; None: the factory's default (Claude Haiku 4.5)."""
    openai_model: str | None = Field(default=None, validation_alias="BATCHEVAL_OPENAI_MODEL")
    """The OpenAI-compatible model when `model_id` is unset (such a judge needs one or the other)."""
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("BATCHEVAL_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    """The OpenAI-compatible server's key; None: no key (local servers need none)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JudgeSettings:
        """Raises: batcheval.errors.ValidationError naming each bad variable."""
        try:
            return cls.read_environment(environ)
        except PydanticValidationError as error:
            raise invalid_settings("judge settings", error) from error

    def default_model_for(self, spec: str) -> str | None:
        """The model of a `spec` judge when none is named: `BATCHEVAL_BEDROCK_MODEL_ID` for
        `bedrock`, `BATCHEVAL_OPENAI_MODEL` for `openai:<base URL>` (None: the factory's rule)."""
        if spec == "bedrock":
            return self.bedrock_model_id
        if spec.startswith("openai:"):
            return self.openai_model
        return None

    def api_key(self) -> str | None:
        return None if self.openai_api_key is None else self.openai_api_key.get_secret_value()


def build_judge(settings: JudgeSettings, clients: AwsClients, *, ledger: JudgeLedger | None = None) -> Judge:
    """The judge the settings describe (see `make_judge`), sharing buckets through DynamoDB if set."""
    from batcheval.judges.factory import make_judge
    from batcheval.judges.leases_dynamodb import DynamoDBSlotLeases, lease_ttl_for
    from batcheval.judges.queue_dynamodb import DynamoDBTicketQueue
    from batcheval.judges.ratelimit_dynamodb import DynamoDBBucketStore

    options: dict[str, Any] = {"max_in_flight": settings.max_in_flight, "timeout_s": settings.timeout_s}
    if settings.tokens_per_minute is not None:
        options["tokens_per_minute"] = settings.tokens_per_minute
    if settings.burn_factor is not None:
        options["burn_factor"] = settings.burn_factor
    if settings.bucket_table is not None:
        dynamodb = clients.client("dynamodb")
        options["bucket_store"] = DynamoDBBucketStore(dynamodb, settings.bucket_table)
        options["slot_leases"] = DynamoDBSlotLeases(
            dynamodb, settings.bucket_table, lease_ttl_s=lease_ttl_for(settings.timeout_s)
        )
        options["ticket_queue"] = DynamoDBTicketQueue(dynamodb, settings.bucket_table)
    if settings.api_key() is not None:
        options["api_key"] = settings.api_key()
    if ledger is not None:
        options["ledger"] = ledger
    return make_judge(
        settings.spec,
        clients=clients,
        model_id=settings.model_id or settings.default_model_for(settings.spec),
        **options,
    )
