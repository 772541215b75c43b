"""Judge settings for a Lambda function: read once at cold start, then `build_judge`.

The function's own settings model can hold a `JudgeSettings`; `JudgeSettings.from_env()` reads
`BATCHEVAL_JUDGE_*` variables (names below) and rejects bad values with a clear error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from batcheval.aws import AwsClients
from batcheval.errors import FieldIssue
from batcheval.errors import ValidationError as DomainValidationError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import Judge

ENV_PREFIX = "BATCHEVAL_JUDGE_"


class JudgeSettings(BaseModel):
    """Which judge, and how hard it may be driven. Env: `BATCHEVAL_JUDGE_<FIELD>` (upper case)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: str = "bedrock"
    """`bedrock` or `openai:<base URL>`."""
    model_id: str | None = None
    tokens_per_minute: float | None = Field(default=None, gt=0)
    """The model's TPM quota; None: in-flight cap only."""
    max_in_flight: int = Field(default=16, ge=1)
    burn_factor: float | None = Field(default=None, gt=0)
    """Output-token weight against the quota; None derives it from the model id. Set it (5) for
    Claude behind an application inference profile ARN, whose id does not name the model."""
    bucket_table: str | None = None
    """DynamoDB table shared by every invocation's rate limiter (TPM bucket, `max_in_flight` slot
    leases and the queue of waiting calls); None: in-process only (`max_in_flight` per process)."""
    timeout_s: float = Field(default=60.0, gt=0)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JudgeSettings:
        source = os.environ if env is None else env
        values = {
            name: source[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if source.get(ENV_PREFIX + name.upper())
        }
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            issues = [
                FieldIssue(ENV_PREFIX + str(problem["loc"][0]).upper(), problem["msg"])
                for problem in error.errors()
            ]
            raise DomainValidationError("invalid judge settings", fields=issues) from error


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
    if ledger is not None:
        options["ledger"] = ledger
    return make_judge(settings.spec, clients=clients, model_id=settings.model_id, **options)
