from __future__ import annotations

import pytest

from batcheval.judges.bucket import (
    ModelLimits,
    given_back,
    initial_state,
    quota_at,
    rate_at,
    take,
    throttled,
    window_spend,
)

# 60k TPM at 100 % utilisation: 1,000 tokens/s.
LIMITS = ModelLimits(tokens_per_minute=60_000, target_utilisation=1.0, burst_seconds=10, window_margin=1.0)


def test_take_refills_from_elapsed_time_and_waits_when_short():
    # Given an empty bucket (10 s burst = 10,000 tokens taken at t=0)
    state, wait = take(initial_state(LIMITS, 0.0), 10_000, LIMITS, 0.0)
    assert wait == 0.0
    # When 3,000 tokens are asked 2 s later
    after, wait = take(state, 3_000, LIMITS, 2.0)
    # Then the caller must wait the 1 s of missing refill
    assert after.tokens == pytest.approx(2_000)
    assert wait == pytest.approx(1.0)
    granted, wait = take(after, 3_000, LIMITS, 3.0)
    assert wait == 0.0
    assert granted.tokens == pytest.approx(0.0)


def test_window_caps_what_is_reserved_in_any_60_s():
    # Given a bucket that would refill plenty, but 60,000 tokens already reserved in this minute
    limits = ModelLimits(
        tokens_per_minute=60_000,
        target_utilisation=1.0,
        burst_seconds=60,
        window_margin=1.0,
        window_slot_s=5.0,
    )
    state = initial_state(limits, 0.0)
    for t in range(0, 60, 10):
        state, wait = take(state, 10_000, limits, float(t))
        assert wait == 0.0
    assert window_spend(state, limits, 59.0) == pytest.approx(60_000)
    # When another 5,000 are asked at t=59 (the bucket has refilled by then)
    _, wait = take(state, 5_000, limits, 59.0)
    # Then it waits until the t=0 slot leaves the window (slot [0, 5) is out at t=65)
    assert wait == pytest.approx(6.0)
    _, wait = take(state, 5_000, limits, 65.0)
    assert wait == 0.0


def test_refund_returns_tokens_and_leaves_the_window_slot():
    state, _ = take(initial_state(LIMITS, 0.0), 4_000, LIMITS, 0.0)
    refunded = given_back(state, 1_500, 0.0, LIMITS, 1.0)
    assert window_spend(refunded, LIMITS, 1.0) == pytest.approx(2_500)
    assert refunded.tokens == pytest.approx(10_000 - 4_000 + 1_000 + 1_500)


def test_throttle_halves_rate_learns_quota_from_the_window_and_probes_back_up():
    # Given 50,000 tokens reserved in the window when the server throttles at t=10
    limits = ModelLimits(
        tokens_per_minute=60_000, target_utilisation=1.0, burst_seconds=50, recovery_s=100, window_margin=1.0
    )
    state, _ = take(initial_state(limits, 0.0), 50_000, limits, 0.0)
    once = throttled(state, limits, 10.0)
    assert once is not None
    # Then the bucket is emptied, the rate halved, the quota learned as 95 % of the window's 50,000
    assert once.tokens <= 0
    assert rate_at(once, limits, 10.0) == pytest.approx(500)
    assert quota_at(once, limits, 10.0) == pytest.approx(47_500)
    # And a second throttle inside the cooldown is ignored
    assert throttled(once, limits, 12.0) is None
    # And the rate climbs additively (10/s) until capped by the learned quota (47,500/min ~ 792/s)
    assert rate_at(once, limits, 30.0) == pytest.approx(700)
    assert rate_at(once, limits, 50.0) == pytest.approx((47_500 + 0.03 * 60_000 * 40 / 60) / 60)
    # And the quota probes up 3 % of the configured quota per minute, never above it
    assert quota_at(once, limits, 70.0) == pytest.approx(47_500 + 1_800)
    assert quota_at(once, limits, 10_000.0) == pytest.approx(60_000)


def test_throttle_with_little_in_the_window_at_most_halves_the_quota():
    # Given a throttle when only 1,000 tokens were reserved (a capacity blip or another client)
    limits = ModelLimits(tokens_per_minute=60_000)
    state, _ = take(initial_state(limits, 0.0), 1_000, limits, 0.0)
    once = throttled(state, limits, 1.0)
    assert once is not None
    # Then the believed quota halves rather than collapsing to what was in the window
    assert quota_at(once, limits, 1.0) == pytest.approx(30_000)
    # And a second throttle after the cooldown halves it again
    twice = throttled(once, limits, 7.0)
    assert twice is not None
    assert quota_at(twice, limits, 7.0) == pytest.approx((30_000 + 0.03 * 60_000 * 6 / 60) / 2)


def test_oversized_request_is_granted_on_a_full_bucket_and_empty_window():
    state, wait = take(initial_state(LIMITS, 0.0), 100_000, LIMITS, 0.0)
    assert wait == 0.0
    assert state.tokens == pytest.approx(-90_000)
