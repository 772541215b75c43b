"""First come, first served judge capacity, and the caller's deadline (issue 8, point 7)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from benchmarks.judge_scheduling import BenchConfig, run

from batcheval.errors import JudgeError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import DEADLINE_EXCEEDED, DeadlineJudge, JudgeRequest, JudgeResponse, TokenUsage
from batcheval.judges.fake import ScriptedJudge
from batcheval.judges.queue import InProcessTicketQueue
from batcheval.judges.ratelimit import InProcessBucketStore, ModelLimits, RateLimitedJudge, RateLimiter
from batcheval.judges.retry import RetryingJudge, RetryPolicy

NOVA = "us.amazon.nova-lite-v1:0"
REQUEST = JudgeRequest(system="", prompt="p", output_schema={}, max_tokens=10)


def test_the_queue_serves_tickets_in_arrival_order_and_skips_one_that_gave_up():
    # Given three callers in arrival order
    queue = InProcessTicketQueue()
    one, two, three = (queue.join("m", 0.0) for _ in range(3))
    assert [queue.ahead("m", ticket, 0.0) for ticket in (one, two, three)] == [0, 1, 2]
    # When the second gives up while waiting and the first is then served
    queue.leave("m", two, 1.0)
    queue.leave("m", one, 2.0)
    # Then it is the third's turn
    assert queue.ahead("m", three, 2.0) == 0


def test_a_call_that_cannot_get_capacity_before_its_deadline_returns_the_deadline_outcome(clock):
    # Given one in-flight slot, held by a call in progress, and a 300 s acquire timeout
    limits = ModelLimits(tokens_per_minute=1e9, max_in_flight=1, acquire_timeout_s=300)
    limiter = RateLimiter(InProcessBucketStore(), {NOVA: limits}, clock=clock)
    held = limiter.acquire(NOVA, REQUEST)
    assert held is not None
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=NOVA)
    deadline = clock.now() + 20.0
    # When a call whose caller needs the answer within 20 s asks
    with pytest.raises(JudgeError) as raised:
        judge.judge(replace(REQUEST, deadline=deadline))
    # Then it fails with the deadline outcome (non-retryable) no later than the deadline
    assert (raised.value.code, raised.value.retryable) == (DEADLINE_EXCEEDED, False)
    assert clock.now() <= deadline
    # holding nothing: once the slot frees, the next call is served at once
    limiter.release(held, used=0.0)
    before = clock.now()
    assert judge.judge(REQUEST).output == {"ok": True}
    assert clock.now() == before


def test_without_a_caller_deadline_the_acquire_timeout_still_ends_the_wait_as_a_throttle(clock):
    # Given the only slot held and a caller deadline later than the 30 s acquire timeout
    limits = ModelLimits(tokens_per_minute=1e9, max_in_flight=1, acquire_timeout_s=30)
    limiter = RateLimiter(InProcessBucketStore(), {NOVA: limits}, clock=clock)
    assert limiter.acquire(NOVA, REQUEST) is not None
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=NOVA)
    # When a call waits
    with pytest.raises(JudgeError) as raised:
        judge.judge(replace(REQUEST, deadline=clock.now() + 3_600))
    # Then the acquire timeout ends it, as a throttle
    assert raised.value.code == "ThrottlingException"


def test_no_retry_starts_after_the_callers_deadline(clock):
    # Given a judge that throttles with Retry-After 5 s and a caller with 3 s left
    inner = ScriptedJudge([JudgeError("ThrottlingException", "slow", retryable=True, retry_after=5.0)])
    ledger = JudgeLedger()
    judge = RetryingJudge(inner, RetryPolicy(), clock=clock, ledger=ledger, model_id=NOVA)
    deadline = clock.now() + 3.0
    # When it is asked
    with pytest.raises(JudgeError) as raised:
        judge.judge(replace(REQUEST, deadline=deadline))
    # Then it gives up at once with the deadline outcome, without sleeping past the deadline
    assert raised.value.code == DEADLINE_EXCEEDED
    assert "slow" in raised.value.message  # the last error is kept in the message
    assert clock.sleeps == []
    assert ledger.snapshot()[NOVA].errors == {DEADLINE_EXCEEDED: 1}


def test_a_call_whose_deadline_has_passed_is_not_attempted(clock):
    # Given a judge with nothing scripted (any attempt would fail differently)
    judge = RetryingJudge(ScriptedJudge([]), RetryPolicy(), clock=clock)
    # When asked after the caller's deadline, Then it fails with the deadline outcome
    with pytest.raises(JudgeError) as raised:
        judge.judge(replace(REQUEST, deadline=clock.now() - 1.0))
    assert raised.value.code == DEADLINE_EXCEEDED


class _Recording:
    def __init__(self) -> None:
        self.deadlines: list[float | None] = []

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        self.deadlines.append(request.deadline)
        return JudgeResponse(output={}, usage=TokenUsage(1, 1), model_id=NOVA)


def test_deadline_judge_gives_requests_the_batch_deadline_unless_they_have_an_earlier_one():
    # Given a judge wrapped with a batch deadline of 100
    inner = _Recording()
    judge = DeadlineJudge(inner, 100.0)
    # When requests without, with a later and with an earlier deadline pass through
    for deadline in (None, 150.0, 50.0):
        judge.judge(replace(REQUEST, deadline=deadline))
    # Then each carries the earliest of the two
    assert inner.deadlines == [100.0, 100.0, 50.0]
    # and the deadline is not part of a request's identity
    assert replace(REQUEST, deadline=1.0) == REQUEST


@pytest.mark.parametrize(
    "config",
    [
        # four invocations sharing an in-flight cap of 4 (in-flight bound)
        BenchConfig(calls=300, workers=16, invocations=4, max_in_flight=4, clock="virtual", seed=7),
        # one process, 16 workers queuing for a 200k TPM quota (TPM bound)
        BenchConfig(calls=400, workers=16, tokens_per_minute=200_000, clock="virtual", seed=7),
    ],
    ids=["in-flight-bound", "tpm-bound"],
)
def test_no_caller_starves_under_contention(config):
    # Given many more callers than capacity, on the benchmark's discrete-event clock
    # When they all run through RetryingJudge(RateLimitedJudge(...))
    report = run(config)
    # Then every call succeeds and the slowest took at most 3x the median (simulated time)
    assert report.failed == 0
    assert report.end_to_end_max_s <= 3 * report.end_to_end_p50_s
