"""Estimated judge cost: list prices per model, so a job summary can say roughly what judging cost.

An ESTIMATE, never a bill: on-demand list prices in USD per 1M tokens for the judge models this
service defaults to or documents, from the Amazon Bedrock pricing page
(https://aws.amazon.com/bedrock/pricing/, global cross-region inference, as published in 2026).
Not included: geo/in-region inference profiles of the Claude 4.5+ models (about 10% above global),
prompt caching, batch-inference discounts, private pricing, regional differences, and the calls the
judge retried or that failed before reporting usage. A model not in the table has no estimate
(callers list it as unpriced; it is never priced at 0).
"""

from __future__ import annotations

PRICE_SOURCE = (
    "Amazon Bedrock on-demand list prices (https://aws.amazon.com/bedrock/pricing/, global "
    "cross-region inference, 2026), USD per 1M tokens; an estimate, not a bill"
)

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    # base model id prefix: (input USD / 1M tokens, output USD / 1M tokens)
    "anthropic.claude-haiku-4-5": (1.00, 5.00),
    "anthropic.claude-sonnet-4-5": (3.00, 15.00),
    "anthropic.claude-sonnet-4-6": (3.00, 15.00),
    "anthropic.claude-opus-4-5": (5.00, 25.00),
    "anthropic.claude-3-5-haiku": (0.80, 4.00),
    "anthropic.claude-3-7-sonnet": (3.00, 15.00),
    "amazon.nova-pro-v1": (0.80, 3.20),
    "amazon.nova-lite-v1": (0.06, 0.24),
    "amazon.nova-micro-v1": (0.035, 0.14),
}

_PROFILE_PREFIXES = ("global.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.")


def price_per_million(model_id: str) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens for `model_id` (a base id or an inference profile id)."""
    base = model_id.rsplit("/", 1)[-1]
    for prefix in _PROFILE_PREFIXES:
        if base.startswith(prefix):
            base = base[len(prefix) :]
            break
    for known, price in PRICES_PER_MILLION.items():
        if base.startswith(known):
            return price
    return None


def estimated_cost_usd(model_id: str, input_tokens: int, output_tokens: int) -> float | None:
    """List-price estimate for the tokens, or None when the model has no known price."""
    price = price_per_million(model_id)
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
