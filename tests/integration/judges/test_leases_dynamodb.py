"""DynamoDBSlotLeases on moto: separate limiters (separate Lambdas) share one in-flight cap."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from batcheval.errors import JudgeError
from batcheval.judges.base import JudgeRequest
from batcheval.judges.clock import SYSTEM_CLOCK
from batcheval.judges.fake import ScriptedJudge
from batcheval.judges.leases_dynamodb import DynamoDBSlotLeases, lease_ttl_for
from batcheval.judges.queue_dynamodb import DynamoDBTicketQueue
from batcheval.judges.ratelimit import (
    InProcessBucketStore,
    Lease,
    ModelLimits,
    RateLimitedJudge,
    RateLimiter,
)
from tests.integration.judges.dynamo import TABLE, StepClock

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
REQUEST = JudgeRequest(system="", prompt="p" * 70, output_schema={}, max_tokens=10)


class Concurrency:
    """A judge responder that records how many calls ran at once."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, _request: JudgeRequest) -> dict[str, bool]:
        with self._lock:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.01)
        with self._lock:
            self.active -= 1
        return {"ok": True}


def _run_invocations(make_limiter: Any, invocations: int, calls_each: int) -> Concurrency:
    """`invocations` threads, each with its own limiter (a separate Lambda), judging `calls_each`."""
    seen = Concurrency()
    errors: list[BaseException] = []

    def invocation(index: int) -> None:
        judge = RateLimitedJudge(ScriptedJudge(responder=seen), make_limiter(index), model_id=MODEL)
        try:
            for _ in range(calls_each):
                judge.judge(REQUEST)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=invocation, args=(index,)) for index in range(invocations)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return seen


def test_separate_limiters_never_exceed_the_shared_in_flight_cap(ddb):
    # Given 6 "Lambdas" (own limiter, own lease store, own seed) on one table, a shared cap of 2
    limits = ModelLimits(tokens_per_minute=1e9, max_in_flight=2, acquire_timeout_s=30)
    stores: list[DynamoDBSlotLeases] = []

    def shared(index: int) -> RateLimiter:
        leases = DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=60, seed=index)
        stores.append(leases)
        return RateLimiter(
            InProcessBucketStore(),
            {MODEL: limits},
            leases=leases,
            queue=DynamoDBTicketQueue(ddb, TABLE),
            lease_backoff_s=(0.002, 0.02),
        )

    # When each judges 4 calls at once
    seen = _run_invocations(shared, invocations=6, calls_each=4)
    # Then all 24 ran, never more than 2 at once, and every slot was given back
    assert seen.calls == 24
    assert seen.peak <= 2
    assert stores[0].busy(MODEL, 2, time.time()) == 0
    # and all 24 went through the one shared queue, which is empty again
    queue = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"judge-queue#{MODEL}"}})["Item"]
    assert (queue["issued"]["N"], queue["serving"]["N"]) == ("24", "25")


def test_without_leases_separate_limiters_exceed_the_cap():
    # Given the same 6 "Lambdas" with per-process caps only (the harness can see a breach)
    limits = ModelLimits(tokens_per_minute=1e9, max_in_flight=2)
    # When each judges 4 calls at once
    seen = _run_invocations(lambda _i: RateLimiter(InProcessBucketStore(), {MODEL: limits}), 6, 4)
    # Then more than 2 ran at once
    assert seen.peak > 2


def test_an_expired_lease_is_reclaimed_and_its_late_release_frees_nothing(ddb):
    # Given a caller that took the only slot with a 10 s lease and then died
    crashed = DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=10, new_holder=lambda: "crashed")
    lease = crashed.try_acquire(MODEL, 1, now=100.0)
    assert lease == Lease(slot=0, holder="crashed", expires_at=110.0)
    other = DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=10, new_holder=lambda: "other")
    # When another caller tries before and after the lease expires
    before = other.try_acquire(MODEL, 1, now=109.0)
    after = other.try_acquire(MODEL, 1, now=110.5)
    # Then the slot is held until then and reclaimed after
    assert before is None
    assert after is not None
    assert after.holder == "other"
    # And the first caller's late release does not free the new holder's slot
    assert crashed.release(MODEL, lease) is False
    assert other.busy(MODEL, 1, now=111.0) == 1
    assert other.release(MODEL, after) is True
    assert other.busy(MODEL, 1, now=111.0) == 0


def test_release_with_a_wrong_holder_keeps_the_slot(ddb):
    # Given two slots, one held
    leases = DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=60)
    held = leases.try_acquire(MODEL, 2, now=0.0)
    assert held is not None
    # When someone releases that slot with another holder id
    forged = Lease(slot=held.slot, holder="not-me", expires_at=held.expires_at)
    # Then nothing is freed
    assert leases.release(MODEL, forged) is False
    assert leases.busy(MODEL, 2, now=1.0) == 1
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"judge-slot#{MODEL}#{held.slot}"}})["Item"]
    assert item["holder"] == {"S": held.holder}


def test_the_slot_this_process_freed_is_tried_first(ddb):
    # Given 4 slots of which this process holds 3
    leases = DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=60, seed=7)
    held = [leases.try_acquire(MODEL, 4, now=0.0) for _ in range(3)]
    assert all(lease is not None for lease in held)
    assert len({lease.slot for lease in held if lease is not None}) == 3
    freed = held[1]
    assert freed is not None
    assert leases.release(MODEL, freed)
    before = dict(leases.counts)
    # When it asks for a slot again
    again = leases.try_acquire(MODEL, 4, now=1.0)
    # Then it gets the slot it freed with one write and no read
    assert again is not None
    assert again.slot == freed.slot
    assert leases.counts["writes"] - before["writes"] == 1
    assert leases.counts["reads"] == before["reads"]


def test_all_slots_held_until_the_deadline_is_a_throttle_not_a_hang(ddb):
    # Given the only shared slot held by another invocation for 10 minutes, and a 20 s deadline
    clock = StepClock()
    DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=600).try_acquire(MODEL, 1, now=clock.now())
    start = clock.now()
    limits = ModelLimits(tokens_per_minute=1e6, max_in_flight=1, acquire_timeout_s=20)
    leases = DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=600)
    limiter = RateLimiter(InProcessBucketStore(), {MODEL: limits}, clock=clock, leases=leases)
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=MODEL)
    # When a call needs a slot
    with pytest.raises(JudgeError) as raised:
        judge.judge(REQUEST)
    # Then it fails as a non-retryable throttle within the deadline, after backing off, holding nothing
    assert raised.value.code == "ThrottlingException"
    assert "shared in-flight slot" in raised.value.message
    assert not raised.value.retryable
    assert 10.0 < clock.now() - start <= 20.0
    assert leases.counts["reads"] > 5  # it kept probing
    assert leases.counts["reads"] < 120  # backing off to 0.25 s (~83 looks in 20 s), not a busy loop
    assert limiter.status(MODEL) == {
        "maxInFlight": 1,
        "inFlightScope": "shared",
        "inFlight": 1,  # the other invocation's
        "configuredTpm": 1e6,
        "believedTpm": 1_000_000,
        "rateTpm": 900_000,
        "windowTokens": 0,  # no tokens were reserved
        "throttles": 0,
    }


def test_a_tpm_wait_that_times_out_gives_the_shared_slot_back(ddb):
    # Given a tiny quota that one oversized call overdraws
    clock = StepClock()
    limits = ModelLimits(tokens_per_minute=600, max_in_flight=1, acquire_timeout_s=30, burst_seconds=1)
    leases = DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=600)
    limiter = RateLimiter(InProcessBucketStore(), {MODEL: limits}, clock=clock, leases=leases)
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=MODEL)
    big = JudgeRequest(system="", prompt="p", output_schema={}, max_tokens=5_000)
    judge.judge(big)
    # When the next call cannot get tokens within its deadline
    with pytest.raises(JudgeError) as raised:
        judge.judge(big)
    # Then it is throttled and its shared slot is free again
    assert raised.value.code == "ThrottlingException"
    assert leases.busy(MODEL, 1, clock.now()) == 0


def test_a_lease_that_cannot_be_released_never_loses_the_verdict(caplog):
    # Given a table that grants the slot but then fails (botocore Stubber: real request validation)
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    leases = DynamoDBSlotLeases(client, TABLE, lease_ttl_s=lease_ttl_for(60))
    limits = ModelLimits(tokens_per_minute=1e6, max_in_flight=4)
    limiter = RateLimiter(InProcessBucketStore(), {MODEL: limits}, clock=SYSTEM_CLOCK, leases=leases)
    judge = RateLimitedJudge(ScriptedJudge(default={"label": "Yes"}), limiter, model_id=MODEL)
    with Stubber(client) as stub, caplog.at_level(logging.ERROR):
        stub.add_response("batch_get_item", {"Responses": {TABLE: []}})
        stub.add_response("put_item", {})
        stub.add_client_error("delete_item", "InternalServerError", "boom", http_status_code=500)
        # When the model answers
        response = judge.judge(REQUEST)
    # Then the verdict comes back and the failure is logged
    assert response.output == {"label": "Yes"}
    assert "not released" in caplog.text


def test_an_unreachable_slot_table_is_a_retryable_judge_error():
    # Given a table whose writes are throttled
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    leases = DynamoDBSlotLeases(client, TABLE)
    limits = ModelLimits(tokens_per_minute=1e6, max_in_flight=4)
    limiter = RateLimiter(InProcessBucketStore(), {MODEL: limits}, leases=leases)
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=MODEL)
    with Stubber(client) as stub:
        stub.add_client_error("batch_get_item", "ProvisionedThroughputExceededException", "slow down")
        # When a call asks for a slot, Then it is a retryable JudgeUnavailable and holds nothing
        with pytest.raises(JudgeError) as raised:
            judge.judge(REQUEST)
    assert (raised.value.code, raised.value.retryable) == ("JudgeUnavailable", True)


class CountingLeases(DynamoDBSlotLeases):
    """Counts probes (try_acquire calls) per thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probers: dict[int, int] = {}
        self._probe_lock = threading.Lock()

    def try_acquire(self, key: str, slots: int, now: float) -> Lease | None:
        with self._probe_lock:
            ident = threading.get_ident()
            self.probers[ident] = self.probers.get(ident, 0) + 1
        return super().try_acquire(key, slots, now)


def test_only_the_head_of_the_queue_probes_the_table(ddb):
    # Given the only shared slot held elsewhere, and 6 threads of one process waiting 0.4 s for it
    DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=600).try_acquire(MODEL, 1, now=time.time())
    limits = ModelLimits(tokens_per_minute=1e9, max_in_flight=1, acquire_timeout_s=0.4)
    leases = CountingLeases(ddb, TABLE, lease_ttl_s=600)
    limiter = RateLimiter(
        InProcessBucketStore(), {MODEL: limits}, leases=leases, lease_backoff_s=(0.01, 0.04), poll_s=0.01
    )
    judge = RateLimitedJudge(ScriptedJudge(default={"ok": True}), limiter, model_id=MODEL)
    codes: list[str] = []

    def call() -> None:
        try:
            judge.judge(REQUEST)
        except JudgeError as error:
            codes.append(error.code)

    threads = [threading.Thread(target=call) for _ in range(6)]
    # When they all wait until their deadline
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then all are throttled, and the probes are about one poller's (~0.4 s / 0.02 s), not six
    assert codes == ["ThrottlingException"] * 6
    assert sum(leases.probers.values()) < 45


def test_a_slot_freed_in_this_process_wakes_the_waiting_thread_at_once(ddb):
    # Given a shared cap of 1, a call holding it for 0.2 s, and a waiter whose first backoff is 5 s
    limits = ModelLimits(tokens_per_minute=1e9, max_in_flight=1, acquire_timeout_s=30)
    leases = DynamoDBSlotLeases(ddb, TABLE, lease_ttl_s=600)
    limiter = RateLimiter(
        InProcessBucketStore(), {MODEL: limits}, leases=leases, lease_backoff_s=(5.0, 5.0), poll_s=0.01
    )

    def slow(_request: JudgeRequest) -> dict[str, bool]:
        time.sleep(0.2)
        return {"ok": True}

    judge = RateLimitedJudge(ScriptedJudge(responder=slow), limiter, model_id=MODEL)
    first = threading.Thread(target=judge.judge, args=(REQUEST,))
    first.start()
    time.sleep(0.05)
    # When the second call waits for the slot
    started = time.monotonic()
    judge.judge(REQUEST)
    waited = time.monotonic() - started
    first.join()
    # Then it ran as soon as the first gave the slot back, not after its 5 s backoff
    assert waited < 1.0
