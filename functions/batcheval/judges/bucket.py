"""The pure arithmetic of one model's judge quota: token bucket, 60 s spend window, AIMD, learning.

Every store (in-process, DynamoDB) runs these functions on a `BucketState`, so the behaviour is
identical wherever the state lives, and it is testable without threads or AWS.

Two checks admit a call that reserves `cost` quota tokens:
1. A token bucket refilled at `rate` tokens/s (`target_utilisation x quota / 60` when all is well)
   holding `burst_seconds` of refill: it spreads calls out evenly.
2. A sliding window of what we reserved in the last `window_s` (in `window_slot_s` slots), the same
   rule Bedrock applies: the window may hold at most `window_margin x quota`. This keeps us from
   re-filling a server window that is still full after an overshoot.

A server throttle means the quota is lower than we thought (wrong configuration, or another client
shares it). Then (AIMD): the bucket is emptied, its rate halved, and it climbs back additively
(`full_rate / recovery_s` per second); the quota is re-learned as `learn_fraction x` what we had in
the window when the throttle came, but at most halved per throttle (a throttle with little in the
window may be a capacity blip or another client), and then probes upwards by
`probe_per_minute x` the configured quota per minute. A configured quota that is too high thus
converges to just under the real one within a few throttles. Throttles within
`throttle_cooldown_s` of the last decrease count once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """Limits for one model id."""

    tokens_per_minute: float
    """The account's TPM quota for the model (Service Quotas); `math.inf`: in-flight cap only."""
    max_in_flight: int = 16
    burn_factor: float | None = None
    """Output-token weight; None derives it from the model id (`default_burn_factor`)."""
    target_utilisation: float = 0.9
    burst_seconds: float = 5.0
    window_s: float = 60.0
    window_slot_s: float = 2.0
    window_margin: float = 0.97
    recovery_s: float = 120.0
    """Time for the additive increase to climb from zero to the full rate."""
    learn_fraction: float = 0.95
    probe_per_minute: float = 0.03
    min_rate_fraction: float = 0.05
    throttle_cooldown_s: float = 5.0
    acquire_timeout_s: float = 300.0
    """Longest a caller waits for capacity before its call fails with ThrottlingException."""

    def __post_init__(self) -> None:
        if self.tokens_per_minute <= 0 or self.max_in_flight < 1:
            raise ValueError("tokens_per_minute must be > 0 and max_in_flight >= 1")
        if not 0 < self.target_utilisation <= 1 or not 0 < self.window_margin <= 1:
            raise ValueError("target_utilisation and window_margin must be in (0, 1]")
        if self.window_slot_s <= 0 or self.window_s < self.window_slot_s:
            raise ValueError("window_s must be >= window_slot_s > 0")

    @property
    def token_limited(self) -> bool:
        return math.isfinite(self.tokens_per_minute)

    @property
    def full_rate(self) -> float:
        """Refill in tokens per second for the configured quota."""
        return self.tokens_per_minute * self.target_utilisation / 60.0

    @property
    def capacity(self) -> float:
        return self.full_rate * self.burst_seconds


@dataclass(frozen=True, slots=True)
class BucketState:
    """One model's quota state. Times are epoch seconds."""

    tokens: float
    updated_at: float
    version: int = 0
    spend: tuple[tuple[int, float], ...] = ()
    """Reserved quota tokens per window slot (slot index = floor(time / window_slot_s)), oldest first."""
    floor_rate: float | None = None
    """Bucket rate right after the last throttle (None: never throttled)."""
    decreased_at: float | None = None
    learned_quota: float | None = None
    """Quota learned at the last throttle (None: the configured one)."""
    throttles: int = 0


def initial_state(limits: ModelLimits, now: float) -> BucketState:
    return BucketState(tokens=limits.capacity, updated_at=now)


def quota_at(state: BucketState, limits: ModelLimits, now: float) -> float:
    """The quota we currently believe in: learned at the last throttle, probing back up."""
    if state.learned_quota is None or state.decreased_at is None:
        return limits.tokens_per_minute
    probed = limits.tokens_per_minute * limits.probe_per_minute * max(0.0, now - state.decreased_at) / 60
    return min(limits.tokens_per_minute, state.learned_quota + probed)


def rate_at(state: BucketState, limits: ModelLimits, now: float) -> float:
    """Bucket refill rate (tokens/s): the additive climb from the halved rate, capped by the quota."""
    cap = quota_at(state, limits, now) * limits.target_utilisation / 60
    if state.floor_rate is None or state.decreased_at is None:
        return cap
    climbed = limits.full_rate / limits.recovery_s * max(0.0, now - state.decreased_at)
    return min(cap, state.floor_rate + climbed)


def _slot(limits: ModelLimits, at: float) -> int:
    return math.floor(at / limits.window_slot_s)


def _live_spend(state: BucketState, limits: ModelLimits, now: float) -> tuple[tuple[int, float], ...]:
    oldest = _slot(limits, now) - math.ceil(limits.window_s / limits.window_slot_s)
    return tuple(entry for entry in state.spend if entry[0] > oldest)


def window_spend(state: BucketState, limits: ModelLimits, now: float) -> float:
    return sum(tokens for _, tokens in _live_spend(state, limits, now))


def refilled(state: BucketState, limits: ModelLimits, now: float) -> BucketState:
    elapsed = max(0.0, now - state.updated_at)
    # Trapezoid over the linear climb: exact until the cap, slightly generous after it.
    average_rate = (rate_at(state, limits, state.updated_at) + rate_at(state, limits, now)) / 2
    tokens = min(limits.capacity, state.tokens + elapsed * average_rate)
    return replace(
        state, tokens=tokens, updated_at=max(now, state.updated_at), spend=_live_spend(state, limits, now)
    )


def _window_wait(
    spend: tuple[tuple[int, float], ...], cost: float, limit: float, limits: ModelLimits, now: float
) -> float:
    """Seconds until enough old slots leave the window for `cost` to fit under `limit`."""
    total = sum(tokens for _, tokens in spend)
    slots_per_window = math.ceil(limits.window_s / limits.window_slot_s)
    for index, tokens in spend:
        total -= tokens
        if total + cost <= limit or total <= 0:
            return max(0.0, (index + slots_per_window + 1) * limits.window_slot_s - now)
    return limits.window_slot_s


def take(state: BucketState, cost: float, limits: ModelLimits, now: float) -> tuple[BucketState, float]:
    """Try to reserve `cost` tokens. Returns (new state, 0.0) or (refilled state, seconds to wait).

    A cost above the bucket capacity (or the window limit) is granted once the bucket is full (the
    window empty), so a huge request is slowed, never starved.
    """
    current = refilled(state, limits, now)
    needed = min(cost, limits.capacity)
    waits = []
    if current.tokens < needed:
        rate = max(rate_at(current, limits, now), limits.full_rate * limits.min_rate_fraction)
        waits.append((needed - current.tokens) / rate)
    limit = quota_at(current, limits, now) * limits.window_margin
    spent = sum(tokens for _, tokens in current.spend)
    if current.spend and spent + cost > limit:
        waits.append(_window_wait(current.spend, cost, limit, limits, now))
    if waits:
        return current, max(max(waits), 1e-3)
    return replace(
        current,
        tokens=current.tokens - cost,
        spend=_add_spend(current.spend, _slot(limits, now), cost),
        version=current.version + 1,
    ), 0.0


def _add_spend(
    spend: tuple[tuple[int, float], ...], slot: int, tokens: float
) -> tuple[tuple[int, float], ...]:
    entries = dict(spend)
    entries[slot] = entries.get(slot, 0.0) + tokens
    return tuple(sorted(entries.items()))


def given_back(
    state: BucketState, tokens: float, charged_at: float, limits: ModelLimits, now: float
) -> BucketState:
    """Unused reserved tokens return to the bucket and leave the window slot they were charged in."""
    current = refilled(state, limits, now)
    slot = _slot(limits, charged_at)
    spend = current.spend
    if any(index == slot for index, _ in spend):
        spend = tuple((index, max(0.0, value - tokens) if index == slot else value) for index, value in spend)
    return replace(current, tokens=current.tokens + tokens, spend=spend, version=current.version + 1)


def throttled(state: BucketState, limits: ModelLimits, now: float) -> BucketState | None:
    """The state after a server throttle (see module doc). None inside the cooldown."""
    current = refilled(state, limits, now)
    if current.decreased_at is not None and now - current.decreased_at < limits.throttle_cooldown_s:
        return None
    believed = quota_at(current, limits, now)
    from_window = min(believed, window_spend(current, limits, now)) * limits.learn_fraction
    # At most halve the belief per throttle: a throttle with little in the window may be a capacity
    # blip or another client, not proof of a tiny quota.
    learned = max(from_window, believed / 2, limits.tokens_per_minute * limits.min_rate_fraction)
    floor = max(rate_at(current, limits, now) / 2, limits.full_rate * limits.min_rate_fraction)
    return replace(
        current,
        tokens=min(current.tokens, 0.0),
        floor_rate=floor,
        decreased_at=now,
        learned_quota=learned,
        version=current.version + 1,
        throttles=current.throttles + 1,
    )
