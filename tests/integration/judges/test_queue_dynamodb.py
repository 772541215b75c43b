"""DynamoDBTicketQueue on moto, and fairness across limiters (separate Lambdas) sharing one table."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from batcheval.errors import JudgeError
from batcheval.judges.base import DEADLINE_EXCEEDED, JudgeRequest
from batcheval.judges.fake import ScriptedJudge
from batcheval.judges.leases_dynamodb import DynamoDBSlotLeases
from batcheval.judges.queue_dynamodb import DynamoDBTicketQueue
from batcheval.judges.ratelimit import InProcessBucketStore, ModelLimits, RateLimitedJudge, RateLimiter
from tests.integration.judges.dynamo import TABLE, StepClock

MODEL = "us.amazon.nova-lite-v1:0"
REQUEST = JudgeRequest(system="", prompt="p" * 70, output_schema={}, max_tokens=10)
LIMITS = ModelLimits(tokens_per_minute=1e9, max_in_flight=1, acquire_timeout_s=300)


def test_tickets_are_served_in_order_across_processes_and_a_ticket_that_gave_up_is_skipped(ddb):
    # Given two processes' queues on one table and three callers in arrival order
    first, second = DynamoDBTicketQueue(ddb, TABLE), DynamoDBTicketQueue(ddb, TABLE)
    one, two, three = first.join(MODEL, 0.0), second.join(MODEL, 0.0), first.join(MODEL, 0.0)
    # Then each sees how many are before it, whichever process asks
    assert (one, two, three) == (1, 2, 3)
    assert [second.ahead(MODEL, t, 1.0) for t in (one, two, three)] == [0, 1, 2]
    # When the second gives up while waiting, and then the first is served
    second.leave(MODEL, two, 2.0)
    first.leave(MODEL, one, 3.0)
    # Then it is the third's turn at once, and the given-up ticket is forgotten
    assert second.ahead(MODEL, three, 4.0) == 0
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"judge-queue#{MODEL}"}})["Item"]
    assert (item["serving"]["N"], "gone" in item) == ("3", False)


def test_a_head_that_falls_silent_is_passed_over_but_one_that_keeps_alive_is_not(ddb):
    # Given a head in one process and a waiter in another (stall_s 15 s)
    head_queue, waiter_queue = DynamoDBTicketQueue(ddb, TABLE), DynamoDBTicketQueue(ddb, TABLE)
    head, waiter = head_queue.join(MODEL, 0.0), waiter_queue.join(MODEL, 0.0)
    assert head_queue.ahead(MODEL, head, 0.0) == 0
    # When the head keeps itself alive while the waiter looks for 30 s
    for now in range(0, 31, 3):
        head_queue.keep(MODEL, head, float(now))
        # Then the waiter is never let past it
        assert waiter_queue.ahead(MODEL, waiter, float(now)) == 1
    # When the head then falls silent (its Lambda was killed) for more than 15 s of the waiter's time
    assert waiter_queue.ahead(MODEL, waiter, 40.0) == 1
    assert waiter_queue.ahead(MODEL, waiter, 56.0) == 1  # this look passes the head over
    # Then it is the waiter's turn
    assert waiter_queue.ahead(MODEL, waiter, 57.0) == 0


def _limiter(ddb: Any, clock: Any = None, **kwargs: Any) -> RateLimiter:
    """One Lambda's limiter: its own store objects on the shared table."""
    extra = {"clock": clock} if clock is not None else {}
    return RateLimiter(
        InProcessBucketStore(),
        {MODEL: LIMITS},
        leases=DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=600),
        queue=DynamoDBTicketQueue(ddb, TABLE),
        **extra,
        **kwargs,
    )


def _issued(ddb: Any) -> int:
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"judge-queue#{MODEL}"}}).get("Item", {})
    return int(item.get("issued", {"N": "0"})["N"])


def _until(condition: Any) -> None:
    """Wait for another thread to reach a state (a synchronisation point; the bound only turns a
    broken test into a failure instead of a hang)."""
    for _ in range(6_000):
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError("the other thread never got there")


def test_an_earlier_waiter_is_served_before_a_later_one_across_two_limiters(ddb):
    # Given the only shared slot held elsewhere, a waiter in Lambda A that looks again only every
    # 0.5 s, then a later waiter in Lambda B that would look every 5 ms
    outside = DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=600)
    held = outside.try_acquire(MODEL, 1, time.time())
    assert held is not None
    served: list[str] = []

    def answering(name: str) -> ScriptedJudge:
        def answer(_request: JudgeRequest) -> dict[str, str]:
            served.append(name)  # inside the slot: the order in which the slot was granted
            return {"by": name}

        return ScriptedJudge(responder=answer)

    slow = RateLimitedJudge(answering("A"), _limiter(ddb, lease_backoff_s=(0.5, 0.5)), model_id=MODEL)
    eager = RateLimitedJudge(
        answering("B"), _limiter(ddb, lease_backoff_s=(0.005, 0.005), poll_s=0.005), model_id=MODEL
    )

    def call(judge: RateLimitedJudge) -> None:
        judge.judge(REQUEST)

    a = threading.Thread(target=call, args=(slow,))
    a.start()
    _until(lambda: _issued(ddb) == 1)
    b = threading.Thread(target=call, args=(eager,))
    b.start()
    _until(lambda: _issued(ddb) == 2)
    # When the slot is freed
    assert outside.release(MODEL, held)
    a.join()
    b.join()
    # Then A, which came first, was served first although B looked far more often
    assert served == ["A", "B"]


def test_a_waiter_whose_deadline_passes_returns_the_deadline_outcome_and_the_queue_goes_on(ddb):
    # Given the only slot held elsewhere and a head waiting for it (acquire timeout 300 s)
    clock = StepClock(1_000.0)
    outside = DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=600)
    held = outside.try_acquire(MODEL, 1, clock.now())
    assert held is not None
    limiter = _limiter(ddb, clock)
    head_queue = DynamoDBTicketQueue(ddb, TABLE)
    head = head_queue.join(MODEL, clock.now())
    # When a call whose caller's deadline is 10 s away waits behind it
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=MODEL)
    deadline = clock.now() + 10.0
    with pytest.raises(JudgeError) as raised:
        judge.judge(JudgeRequest(system="", prompt="p", output_schema={}, max_tokens=10, deadline=deadline))
    # Then it fails with the deadline outcome, not later than the deadline, holding nothing
    assert (raised.value.code, raised.value.retryable) == (DEADLINE_EXCEEDED, False)
    assert clock.now() <= deadline
    assert outside.busy(MODEL, 1, clock.now()) == 1
    # and once the head is served and the slot frees, the next caller's turn comes at once
    head_queue.leave(MODEL, head, clock.now())
    assert outside.release(MODEL, held)
    assert judge.judge(REQUEST).output == {"ok": True}
