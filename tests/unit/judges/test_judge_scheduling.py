"""The judge-scheduling benchmark at small scale on its discrete-event clock (fast, repeatable)."""

from __future__ import annotations

from dataclasses import replace

from benchmarks.judge_scheduling import BenchConfig, QuotaWindow, run

SMALL = BenchConfig(calls=400, workers=16, tokens_per_minute=200_000, clock="virtual", seed=7)


def test_scheduler_keeps_quota_busy_without_throttles_when_quota_is_known():
    # Given 400 Claude judge calls against a simulated 200k TPM quota the limiter knows
    # When they run through RetryingJudge(RateLimitedJudge(...)) on 16 workers
    report = run(SMALL)
    # Then every call succeeds, >= 85 % of the quota is used in steady state, < 5 % are throttled
    assert report.failed == 0
    assert report.steady_utilisation_pct >= 85
    assert report.throttled_calls_pct < 5
    assert report.peak_window_pct <= 100


def test_scheduler_converges_when_the_configured_quota_is_twice_the_real_one():
    # Given the limiter is told 400k TPM but the endpoint allows 200k
    report = run(replace(SMALL, configured_tpm=400_000))
    # Then AIMD and quota learning keep throttles rare and the quota still well used
    assert report.failed == 0
    assert report.throttled_calls_pct < 5
    assert report.steady_utilisation_pct >= 80
    assert report.final_rate_tpm is not None
    assert report.final_rate_tpm < 0.9 * 400_000


def test_simulated_window_throttles_over_quota_and_settles_to_actual_usage():
    # Given a 10k TPM window holding a 6k reservation
    window = QuotaWindow(10_000)
    first = window.admit(0.0, 6_000)
    assert first is not None
    # When another 6k arrives, Then it is throttled
    assert window.admit(1.0, 6_000) is None
    # And once the first settles at 3k actual usage, it fits; 60 s later the window is empty again
    window.settle(first, 2.0, 3_000)
    assert window.admit(2.0, 6_000) is not None
    assert window.admit(62.5, 9_000) is not None
