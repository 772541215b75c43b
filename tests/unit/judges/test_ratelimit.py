from __future__ import annotations

import threading
import time

import pytest

from batcheval.errors import JudgeError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import JudgeRequest, JudgeResponse, TokenUsage
from batcheval.judges.fake import ScriptedJudge, ScriptedReply
from batcheval.judges.ratelimit import (
    InProcessBucketStore,
    ModelLimits,
    RateLimitedJudge,
    RateLimiter,
    default_burn_factor,
    estimate_input_tokens,
)
from batcheval.judges.retry import RetryingJudge, RetryPolicy

CLAUDE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA = "us.amazon.nova-lite-v1:0"


@pytest.mark.parametrize(
    ("model_id", "factor"),
    [
        (CLAUDE, 5.0),
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", 5.0),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", 5.0),
        ("eu.anthropic.claude-opus-4-1-20250805-v1:0", 5.0),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", 1.0),
        (NOVA, 1.0),
        ("llama3.1:8b", 1.0),
    ],
)
def test_burn_factor_is_5_for_claude_3_7_and_4x_only(model_id, factor):
    assert default_burn_factor(model_id) == factor


def test_estimate_input_tokens_over_reserves_plain_text():
    request = JudgeRequest(system="x" * 700, prompt="y" * 6300, output_schema={})
    assert 2_000 <= estimate_input_tokens(request) <= 2_200


class _StepClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.lock = threading.Lock()

    def now(self) -> float:
        with self.lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.t += seconds


def _request(max_tokens: int = 100) -> JudgeRequest:
    return JudgeRequest(system="", prompt="p" * 350, output_schema={}, max_tokens=max_tokens)


def test_reservation_is_refunded_to_the_actual_usage():
    # Given a Claude judge limited to 60k TPM, and a call reserving input + 5 x 100 output
    clock = _StepClock()
    limits = ModelLimits(tokens_per_minute=60_000, target_utilisation=1.0, burst_seconds=10)
    store = InProcessBucketStore()
    ledger = JudgeLedger()
    limiter = RateLimiter(store, {CLAUDE: limits}, clock=clock, ledger=ledger)
    inner = ScriptedJudge(default=ScriptedReply(output={"ok": True}, usage=TokenUsage(120, 10)))
    judge = RateLimitedJudge(inner, limiter, model_id=CLAUDE, ledger=ledger)
    before = store._states.get(CLAUDE)
    assert before is None
    # When one call completes using 120 input and 10 output tokens
    judge.judge(_request())
    # Then the bucket is charged exactly 120 + 5 x 10 = 170 tokens
    assert store._states[CLAUDE].tokens == pytest.approx(limits.capacity - 170)
    usage = ledger.snapshot()[CLAUDE]
    assert (usage.succeeded, usage.input_tokens, usage.output_tokens, usage.quota_tokens) == (1, 120, 10, 170)


def test_throttle_refunds_reservation_and_slows_the_bucket():
    # Given a judge throttled once by the server
    clock = _StepClock()
    limits = ModelLimits(tokens_per_minute=60_000)
    ledger = JudgeLedger()
    limiter = RateLimiter(InProcessBucketStore(), {CLAUDE: limits}, clock=clock, ledger=ledger)
    inner = ScriptedJudge([JudgeError("ThrottlingException", "x", retryable=True), {"ok": True}])
    judge = RetryingJudge(
        RateLimitedJudge(inner, limiter, model_id=CLAUDE, ledger=ledger),
        RetryPolicy(),
        clock=clock,
        ledger=ledger,
        model_id=CLAUDE,
    )
    # When judged
    assert judge.judge(_request()).output == {"ok": True}
    # Then the limiter's rate dropped (AIMD) and the ledger counted the throttle and the retry
    assert limiter.current_rate(CLAUDE) == pytest.approx(limits.full_rate * 60 / 2, rel=0.05)
    usage = ledger.snapshot()[CLAUDE]
    assert (usage.calls, usage.throttled, usage.retries, usage.succeeded) == (2, 1, 1, 1)


def test_no_capacity_within_deadline_is_a_judge_error_not_a_hang():
    # Given a tiny quota and a request far above it, with a 30 s acquire deadline
    clock = _StepClock()
    limits = ModelLimits(tokens_per_minute=600, acquire_timeout_s=30, burst_seconds=1)
    limiter = RateLimiter(InProcessBucketStore(), {NOVA: limits}, clock=clock)
    big = ScriptedReply(output={"ok": True}, usage=TokenUsage(5_000, 5_000))
    judge = RateLimitedJudge(ScriptedJudge(default=big), limiter, model_id=NOVA)
    judge.judge(_request(max_tokens=5_000))  # a full bucket lets one oversized call overdraw it
    # When the next call needs capacity that will not exist for minutes
    with pytest.raises(JudgeError) as raised:
        judge.judge(_request(max_tokens=5_000))
    # Then it fails as throttled, non-retryable, within the deadline
    assert raised.value.code == "ThrottlingException"
    assert not raised.value.retryable
    assert clock.now() <= 30.0


def test_in_flight_cap_is_never_exceeded():
    # Given max 3 in flight and a slow inner judge, 12 callers on threads
    limits = ModelLimits(tokens_per_minute=1e9, max_in_flight=3)
    limiter = RateLimiter(InProcessBucketStore(), {NOVA: limits})
    active = 0
    peak = 0
    lock = threading.Lock()

    def slow(_request: JudgeRequest) -> dict[str, bool]:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01)
        with lock:
            active -= 1
        return {"ok": True}

    judge = RateLimitedJudge(ScriptedJudge(responder=slow), limiter, model_id=NOVA)
    threads = [threading.Thread(target=judge.judge, args=(_request(),)) for _ in range(12)]
    # When all run
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then at most 3 ran at once, and all slots were returned
    assert peak == 3
    status = limiter.status(NOVA)
    assert status is not None
    assert status["inFlight"] == 0


def test_unlimited_model_passes_through():
    limiter = RateLimiter(InProcessBucketStore(), {})
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=NOVA)
    assert judge.judge(_request()).output == {"ok": True}
    assert limiter.current_rate(NOVA) is None


class _CountingStore(InProcessBucketStore):
    def __init__(self) -> None:
        super().__init__()
        self.takes = 0

    def try_take(self, key, cost, limits, now):
        self.takes += 1
        return super().try_take(key, cost, limits, now)


def test_waiting_threads_take_turns_asking_the_store():
    # Given 8 threads making 40 calls that must queue for tokens (a shared store is one hot key)
    limits = ModelLimits(
        tokens_per_minute=6_000_000, target_utilisation=1.0, burst_seconds=0.01, max_in_flight=8
    )
    store = _CountingStore()
    limiter = RateLimiter(store, {NOVA: limits}, poll_s=0.001)
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=NOVA)

    def caller() -> None:
        for _ in range(5):
            judge.judge(_request())

    threads = [threading.Thread(target=caller) for _ in range(8)]
    # When they all run
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the store was asked about twice per call, not once per thread per refill
    assert store.takes <= 3 * 40


def test_input_estimate_calibrates_to_reported_usage():
    # Given a judge whose text turns out to be ~1.2 characters per token (e.g. CJK transcripts)
    limiter = RateLimiter(InProcessBucketStore(), {NOVA: ModelLimits(tokens_per_minute=1e9)})
    request = JudgeRequest(system="", prompt="字" * 1_200, output_schema={}, max_tokens=10)
    inner = ScriptedJudge(default=ScriptedReply(output={"ok": True}, usage=TokenUsage(1_000, 5)))
    judge = RateLimitedJudge(inner, limiter, model_id=NOVA)
    first = limiter.acquire(NOVA, request)
    assert first is not None
    limiter.release(first, used=None)
    # When a few calls report their real input tokens
    for _ in range(5):
        judge.judge(request)
    # Then later reservations estimate the input at >= the real 1,000 tokens, not chars / 3.5
    later = limiter.acquire(NOVA, request)
    assert later is not None
    assert first.input_estimate < 1_000 <= later.input_estimate
    limiter.release(later, used=None)


def test_estimated_usage_does_not_calibrate():
    # Given a backend whose usage is an estimate (an OpenAI-compatible server that reports none)
    class Estimating:
        def judge(self, request: JudgeRequest) -> JudgeResponse:
            return JudgeResponse({"ok": True}, TokenUsage(1_000, 1), NOVA, usage_estimated=True)

    limiter = RateLimiter(InProcessBucketStore(), {NOVA: ModelLimits(tokens_per_minute=1e9)})
    # When calls complete
    for _ in range(3):
        RateLimitedJudge(Estimating(), limiter, model_id=NOVA).judge(_request())
    # Then the ratio is untouched (the same counts reported by the server would have lowered it)
    assert limiter.chars_per_token(NOVA) == 3.5


class _BrokenSettlementStore(InProcessBucketStore):
    """Takes tokens, but cannot be written back to (a bucket table gone away mid-call)."""

    def give_back(self, key, tokens, charged_at, limits, now):
        raise JudgeError("JudgeUnavailable", "bucket unavailable", retryable=True)


def test_a_verdict_survives_a_bucket_that_cannot_be_settled():
    # Given a limiter with one in-flight slot whose bucket store fails when settling
    limits = ModelLimits(tokens_per_minute=60_000, max_in_flight=1)
    limiter = RateLimiter(_BrokenSettlementStore(), {CLAUDE: limits}, clock=_StepClock())
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=CLAUDE)
    # When two calls are made, Then both verdicts come back (and the slot was released in between)
    assert judge.judge(_request()).output == {"ok": True}
    assert judge.judge(_request()).output == {"ok": True}


class _FullLeases:
    """Shared slots that are always all held elsewhere."""

    def __init__(self) -> None:
        self.probes = 0

    def try_acquire(self, key: str, slots: int, now: float) -> None:
        self.probes += 1
        return None

    def release(self, key: str, lease: object) -> bool:
        raise AssertionError("nothing was acquired")

    def busy(self, key: str, slots: int, now: float) -> int:
        return slots


def test_a_long_wait_for_a_shared_slot_ends_in_a_throttle_not_an_overflow():
    # Given shared slots that never free up, and a backoff so short that thousands of probes fit
    clock = _StepClock()
    leases = _FullLeases()
    limits = ModelLimits(tokens_per_minute=1e9, max_in_flight=2, acquire_timeout_s=2)
    limiter = RateLimiter(
        InProcessBucketStore(), {NOVA: limits}, clock=clock, leases=leases, lease_backoff_s=(1e-6, 1e-3)
    )
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=NOVA)
    # When a call waits for one
    with pytest.raises(JudgeError) as raised:
        judge.judge(_request())
    # Then after >1,100 probes (2.0 ** 1100 would overflow) it is throttled at the deadline
    assert leases.probes > 1_100
    assert raised.value.code == "ThrottlingException"
    assert clock.now() == pytest.approx(2.0)
    status = limiter.status(NOVA)
    assert status is not None
    assert (status["inFlightScope"], status["inFlight"]) == ("shared", 2)  # held elsewhere
