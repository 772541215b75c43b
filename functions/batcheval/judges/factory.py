"""`make_judge`: one call from a judge spec (`bedrock`, `openai:<base URL>`) to a ready judge.

The judge returned is `RetryingJudge(RateLimitedJudge(backend))`: every attempt is admitted by the
rate limiter and every retryable failure is retried within the retry budget.

Defaults:
- Bedrock model: Claude Haiku 4.5 through the cross-Region inference profile of the client's
  geography (`us.` for us-*, `eu.` for eu-*, `apac.` for ap-*, else `global.`), e.g.
  `us.anthropic.claude-haiku-4-5-20251001-v1:0`. Override with `model_id`.
- OpenAI-compatible model: no default; `model_id` is required. `api_key`: none by default (local
  servers need none).
- Rate limit: `tokens_per_minute` and `max_in_flight` (default 16), applied to each model
  separately (a request's `model_id` override gets its own bucket). Without a TPM only the
  in-flight cap applies (and retries absorb throttles); set the TPM from Service Quotas. The
  in-flight cap is per process unless `slot_leases` shares it. `limits={model: ModelLimits}` names
  each model instead (models not named are then not limited).

Nothing here reads the environment: the edges pass every value (a function's `JudgeSettings` via
`build_judge`, the CLI from its flags and `JudgeSettings.from_env()`), e.g. the
`BATCHEVAL_BEDROCK_MODEL_ID` / `BATCHEVAL_OPENAI_MODEL` variables as `model_id`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from batcheval.aws import AwsClients
from batcheval.errors import ValidationError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import Judge
from batcheval.judges.bedrock import BedrockJudge
from batcheval.judges.clock import SYSTEM_CLOCK, Clock
from batcheval.judges.openai_compat import OpenAICompatJudge
from batcheval.judges.ratelimit import (
    InProcessBucketStore,
    LimitsFor,
    ModelLimits,
    RateLimitedJudge,
    RateLimiter,
)
from batcheval.judges.retry import RetryingJudge, RetryPolicy

BEDROCK_BASE_MODEL = "anthropic.claude-haiku-4-5-20251001-v1:0"
_GEOGRAPHY_PREFIXES = (("us-gov-", "us-gov."), ("us-", "us."), ("eu-", "eu."), ("ap-", "apac."))

_OPTIONS = {
    "limits",
    "tokens_per_minute",
    "max_in_flight",
    "burn_factor",
    "bucket_store",
    "slot_leases",
    "ticket_queue",
    "limiter",
    "retry",
    "ledger",
    "timeout_s",
    "api_key",
    "tool_choice",
    "output_mode",
    "seed",
    "clock",
}


def default_bedrock_model_id(region: str) -> str:
    """Claude Haiku 4.5 via the inference profile of `region`'s geography (global outside them)."""
    for region_prefix, profile_prefix in _GEOGRAPHY_PREFIXES:
        if region.startswith(region_prefix):
            return profile_prefix + BEDROCK_BASE_MODEL
    return "global." + BEDROCK_BASE_MODEL


def make_judge(
    spec: str, *, clients: AwsClients | None = None, model_id: str | None = None, **options: Any
) -> Judge:
    """Build the judge named by `spec`.

    Args:
        spec: `bedrock` or `openai:<base URL>` (e.g. `openai:http://localhost:11434/v1`).
        clients: AWS clients; required for `bedrock`.
        model_id: the model; see the module doc for defaults.
        **options: `limits` (ModelLimits, or a mapping model id -> ModelLimits), `tokens_per_minute`,
            `max_in_flight`, `burn_factor` (output-token weight; default from the model id),
            `bucket_store` (e.g. DynamoDBBucketStore), `slot_leases` (e.g. DynamoDBSlotLeases:
            `max_in_flight` is then shared by every process), `ticket_queue` (e.g.
            DynamoDBTicketQueue: calls of every process are served in arrival order), `limiter` (a
            shared RateLimiter; overrides the previous seven), `retry` (RetryPolicy), `ledger` (JudgeLedger),
            `timeout_s`, `api_key`, `tool_choice` (Bedrock), `output_mode` (OpenAI), `seed`, `clock`.

    Raises:
        ValidationError: an unknown spec or option, no clients for Bedrock, or no model for an
            OpenAI-compatible server.
    """
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ValidationError(f"unknown judge option(s): {', '.join(unknown)}")
    for name, allowed in (
        ("tool_choice", ("tool", "any", "auto")),
        ("output_mode", ("tools", "json_schema", "json")),
    ):
        if name in options and options[name] not in allowed:
            raise ValidationError(f"judge option {name} must be one of {', '.join(allowed)}")
    ledger: JudgeLedger | None = options.get("ledger")
    clock: Clock = options.get("clock") or SYSTEM_CLOCK
    timeout_s = float(options.get("timeout_s") or 60.0)

    backend: Judge
    if spec == "bedrock":
        if clients is None:
            raise ValidationError("a Bedrock judge needs AWS clients: pass clients=AwsClients(region=...)")
        model = model_id or default_bedrock_model_id(clients.region)
        client = clients.client("bedrock-runtime", total_max_attempts=1, read_timeout=timeout_s)
        backend = BedrockJudge(client, model, tool_choice=options.get("tool_choice", "tool"))
    elif spec.startswith("openai:"):
        base_url = spec.removeprefix("openai:")
        model = model_id or ""
        if not model:
            raise ValidationError(
                "an OpenAI-compatible judge needs a model name: pass model_id "
                "(--model, or BATCHEVAL_OPENAI_MODEL in a function's or the CLI's environment)"
            )
        api_key = options.get("api_key")
        try:
            backend = OpenAICompatJudge(
                base_url,
                model,
                api_key=api_key,
                timeout_s=timeout_s,
                output_mode=options.get("output_mode", "tools"),
            )
        except ValueError as error:
            raise ValidationError(f"bad judge spec {spec!r}: {error}") from error
    else:
        raise ValidationError(f"unknown judge {spec!r}: expected 'bedrock' or 'openai:<base URL>'")

    limiter: RateLimiter = options.get("limiter") or RateLimiter(
        options.get("bucket_store") or InProcessBucketStore(),
        _limits(options),
        clock=clock,
        ledger=ledger,
        leases=options.get("slot_leases"),
        queue=options.get("ticket_queue"),
    )
    limited = RateLimitedJudge(backend, limiter, model_id=model, ledger=ledger)
    return RetryingJudge(
        limited,
        options.get("retry") or RetryPolicy(),
        seed=int(options.get("seed", 0)),
        clock=clock,
        ledger=ledger,
        model_id=model,
    )


def _limits(options: Mapping[str, Any]) -> LimitsFor:
    """Limits per model id. A single TPM applies to every model the judge is asked for (each gets its
    own bucket: a derived evaluator on another model is limited too); a mapping names each model."""
    given = options.get("limits")
    if isinstance(given, Mapping):
        return dict(given).get
    if isinstance(given, ModelLimits):
        same = given
    else:
        try:
            tpm = float(options.get("tokens_per_minute") or math.inf)
            in_flight = int(options.get("max_in_flight") or 16)
            burn = options.get("burn_factor")
            same = ModelLimits(
                tokens_per_minute=tpm,
                max_in_flight=in_flight,
                burn_factor=None if burn is None else float(burn),
            )
        except ValueError as error:
            raise ValidationError(f"bad judge rate limit: {error}") from error
    return lambda _model_id: same
