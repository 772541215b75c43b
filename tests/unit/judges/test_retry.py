from __future__ import annotations

import random

import pytest

from batcheval.errors import JudgeError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.fake import ScriptedJudge
from batcheval.judges.retry import RetryingJudge, RetryPolicy

OK = {"label": "Yes"}


def _throttle(retry_after: float | None = None) -> JudgeError:
    return JudgeError("ThrottlingException", "slow down", retryable=True, retry_after=retry_after)


def test_full_jitter_delays_stay_under_the_exponential_ceiling():
    # Given a policy with base 1 s and cap 8 s
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=8.0)
    rng = random.Random(7)
    # When many delays are drawn per retry number
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        delays = [policy.delay(retry, None, rng) for _ in range(200)]
        # Then each lies in [0, ceiling] and they are spread (not a constant)
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8
        assert min(delays) < ceiling * 0.2


def test_same_seed_gives_same_delays(clock, request_):
    # Given two retrying judges with the same seed over always-throttled judges
    def run() -> list[float]:
        clock.sleeps.clear()
        judge = RetryingJudge(
            ScriptedJudge(default=_throttle()), RetryPolicy(max_attempts=4), seed=3, clock=clock
        )
        with pytest.raises(JudgeError):
            judge.judge(request_)
        return list(clock.sleeps)

    # When both run, Then they wait identically
    assert run() == run()


def test_retry_after_is_honoured(clock, request_):
    # Given a server that says Retry-After: 7
    judge = RetryingJudge(
        ScriptedJudge([_throttle(retry_after=7.0), OK]), RetryPolicy(retry_after_jitter_s=0.5), clock=clock
    )
    # When judged
    assert judge.judge(request_).output == OK
    # Then it waited at least 7 s and at most 7.5 s
    assert len(clock.sleeps) == 1
    assert 7.0 <= clock.sleeps[0] <= 7.5


def test_always_throttled_judge_gives_up_after_max_attempts(clock, request_):
    # Given a judge that is always throttled and a ledger
    ledger = JudgeLedger()
    inner = ScriptedJudge(default=_throttle())
    judge = RetryingJudge(inner, RetryPolicy(max_attempts=5, max_elapsed_s=1e9), clock=clock, ledger=ledger)
    # When judged
    with pytest.raises(JudgeError) as raised:
        judge.judge(request_)
    # Then exactly 5 attempts were made and the final error is a non-retryable ThrottlingException
    assert inner.calls == 5
    assert raised.value.code == "ThrottlingException"
    assert not raised.value.retryable
    usage = ledger.snapshot()["unknown"]
    assert usage.retries == 4
    assert usage.errors == {"ThrottlingException": 1}


def test_elapsed_budget_stops_retries_before_max_attempts(clock, request_):
    # Given an unavailable judge, a 10 s budget and a slow server hint of 6 s per retry
    inner = ScriptedJudge(default=JudgeError("JudgeUnavailable", "503", retryable=True, retry_after=6.0))
    judge = RetryingJudge(
        inner, RetryPolicy(max_attempts=100, max_elapsed_s=10.0, retry_after_jitter_s=0.0), clock=clock
    )
    started = clock.now()
    # When judged
    with pytest.raises(JudgeError) as raised:
        judge.judge(request_)
    # Then it stops inside the budget (two attempts: 0 s and 6 s; a third would start at 12 s)
    assert inner.calls == 2
    assert clock.now() - started <= 10.0
    assert raised.value.code == "JudgeUnavailable"


def test_non_retryable_error_is_raised_at_once(clock, request_):
    # Given a judge whose output is invalid
    inner = ScriptedJudge([JudgeError("InvalidJudgeOutput", "no tool use"), OK])
    judge = RetryingJudge(inner, clock=clock)
    # When / Then the error passes through unchanged after one call
    with pytest.raises(JudgeError) as raised:
        judge.judge(request_)
    assert raised.value.code == "InvalidJudgeOutput"
    assert inner.calls == 1
    assert clock.sleeps == []


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def _down() -> JudgeError:
    return JudgeError("JudgeUnavailable", "connection refused", retryable=True)


def test_judge_that_stays_down_costs_one_attempt_per_call_until_it_answers(clock, request_):
    # Given a judge that is down for 5 calls' worth of attempts, then answers, and degrade_after=2
    policy = RetryPolicy(max_attempts=3, degrade_after=2)
    inner = ScriptedJudge([_down()] * 8 + [OK, _down(), OK])
    judge = RetryingJudge(inner, policy, clock=clock)
    attempts, codes = [], []
    # When six calls are made in turn
    for _ in range(6):
        before = len(inner.requests)
        try:
            judge.judge(request_)
            codes.append("ok")
        except JudgeError as error:
            codes.append(error.code)
        attempts.append(len(inner.requests) - before)
    assert codes == ["JudgeUnavailable"] * 4 + ["ok", "ok"]
    # Then the first two spend the full budget, the next two one attempt each, and the judge
    # answers on the fifth call; after that success retries are back (the sixth call retries once)
    assert attempts == [3, 3, 1, 1, 1, 2]


def test_throttles_never_degrade_a_model(clock, request_):
    # Given a judge throttled past its budget many times, then throttled once before answering
    policy = RetryPolicy(max_attempts=2, degrade_after=1)
    inner = ScriptedJudge([_throttle()] * 6 + [_throttle(), OK])
    judge = RetryingJudge(inner, policy, clock=clock)
    for _ in range(3):
        with pytest.raises(JudgeError, match="gave up"):
            judge.judge(request_)
    # When judged again, Then the throttle is still retried and the call succeeds
    assert judge.judge(request_).output == OK
