"""DynamoDBBucketStore on moto: the shared bucket never over-spends, refunds and AIMD persist."""

from __future__ import annotations

import threading

import boto3
import pytest
from botocore.stub import Stubber

from batcheval.errors import JudgeError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import JudgeRequest, TokenUsage
from batcheval.judges.fake import ScriptedJudge, ScriptedReply
from batcheval.judges.ratelimit import ModelLimits, RateLimitedJudge, RateLimiter
from batcheval.judges.ratelimit_dynamodb import DynamoDBBucketStore
from tests.integration.judges.dynamo import TABLE

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


class FrozenClock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        pass


def test_concurrent_takers_never_spend_more_than_the_bucket_holds(ddb):
    # Given a bucket of 60 s x 1,000 tokens/s x 10 % = 10,000 tokens and a frozen clock (no refill)
    limits = ModelLimits(tokens_per_minute=600_000, target_utilisation=1.0, burst_seconds=1.0)
    assert limits.capacity == pytest.approx(10_000)
    store = DynamoDBBucketStore(ddb, TABLE, max_conflicts=1_000)
    now = 1_800_000_000.0
    granted: list[int] = []
    lock = threading.Lock()

    def taker() -> None:
        for _ in range(10):
            if store.try_take(MODEL, 300, limits, now) == 0.0:
                with lock:
                    granted.append(300)

    # When 8 threads (each its own Lambda, in effect) take 300 tokens 10 times each
    threads = [threading.Thread(target=taker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly floor(10,000 / 300) = 33 takes were granted and the stored balance agrees
    assert len(granted) == 33
    state = store.state(MODEL)
    assert state is not None
    assert state.tokens == pytest.approx(10_000 - 33 * 300)


def test_refill_is_computed_from_the_stored_timestamp(ddb):
    # Given an emptied bucket refilling at 1,000 tokens/s
    limits = ModelLimits(tokens_per_minute=60_000, target_utilisation=1.0, burst_seconds=10)
    store = DynamoDBBucketStore(ddb, TABLE)
    assert store.try_take(MODEL, 10_000, limits, 100.0) == 0.0
    # When 3,000 tokens are asked 2 s later, Then the wait is the 1 s of missing refill
    assert store.try_take(MODEL, 3_000, limits, 102.0) == pytest.approx(1.0)
    # And a second store (another Lambda) sees the same bucket and is granted at t=103
    other = DynamoDBBucketStore(ddb, TABLE)
    assert other.try_take(MODEL, 3_000, limits, 103.0) == 0.0
    state = other.state(MODEL)
    assert state is not None
    assert state.tokens == pytest.approx(0.0, abs=1e-3)


def test_refund_and_throttle_are_shared_through_the_table(ddb):
    # Given two limiters (two Lambda invocations) on one table
    clock = FrozenClock()
    limits = ModelLimits(tokens_per_minute=120_000)
    ledger = JudgeLedger()
    first = RateLimiter(DynamoDBBucketStore(ddb, TABLE), {MODEL: limits}, clock=clock, ledger=ledger)
    second = RateLimiter(DynamoDBBucketStore(ddb, TABLE), {MODEL: limits}, clock=clock)
    reply = ScriptedReply(output={"ok": True}, usage=TokenUsage(200, 10))
    judge = RateLimitedJudge(ScriptedJudge(default=reply), first, model_id=MODEL, ledger=ledger)
    request = JudgeRequest(system="", prompt="p" * 700, output_schema={}, max_tokens=300)
    # When one call completes (reserving input + 5 x 300, refunding down to 200 + 5 x 10)
    judge.judge(request)
    state = DynamoDBBucketStore(ddb, TABLE).state(MODEL)
    assert state is not None
    assert state.tokens == pytest.approx(limits.capacity - 250, abs=1e-3)
    # And the server throttles a call admitted by the first limiter
    throttle_judge = RateLimitedJudge(
        ScriptedJudge([JudgeError("ThrottlingException", "x")]),
        first,
        model_id=MODEL,
    )
    with pytest.raises(JudgeError, match="ThrottlingException"):
        throttle_judge.judge(request)
    # Then the second limiter sees the halved rate
    assert second.current_rate(MODEL) == pytest.approx(limits.full_rate * 60 / 2)
    assert ledger.snapshot()[MODEL].quota_tokens == 250


def test_status_reports_the_shared_view_for_the_job_summary(ddb):
    # Given a throttle recorded through one limiter on the shared table
    clock = FrozenClock()
    limits = ModelLimits(tokens_per_minute=120_000)
    first = RateLimiter(DynamoDBBucketStore(ddb, TABLE), {MODEL: limits}, clock=clock)
    RateLimitedJudge(ScriptedJudge(default={"ok": True}), first, model_id=MODEL).judge(
        JudgeRequest(system="", prompt="p" * 700, output_schema={}, max_tokens=300)
    )
    throttle = RateLimitedJudge(
        ScriptedJudge([JudgeError("ThrottlingException", "x")]), first, model_id=MODEL
    )
    with pytest.raises(JudgeError):
        throttle.judge(JudgeRequest(system="", prompt="p", output_schema={}, max_tokens=300))
    # When another invocation asks for the status
    status = RateLimiter(DynamoDBBucketStore(ddb, TABLE), {MODEL: limits}, clock=clock).status(MODEL)
    # Then it shows the throttle, the halved belief and rate, and the settled window
    assert status == {
        "maxInFlight": 16,
        "inFlightScope": "process",  # no slot leases given: the cap is this process's
        "inFlight": 0,
        "configuredTpm": 120_000,
        "believedTpm": 60_000,
        "rateTpm": 54_000,
        "windowTokens": 200,  # the first call settled at 100 in + 5 x 20 out
        "throttles": 1,
    }


def test_bucket_writes_are_updates_that_keep_other_attributes(ddb):
    # Given a bucket item an operator annotated with an extra attribute
    limits = ModelLimits(tokens_per_minute=60_000)
    store = DynamoDBBucketStore(ddb, TABLE)
    assert store.try_take(MODEL, 100, limits, 10.0) == 0.0
    ddb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "judge-bucket#" + MODEL}},
        UpdateExpression="SET note = :n",
        ExpressionAttributeValues={":n": {"S": "Service Quotas L-123"}},
    )
    # When the bucket changes again (a take and a throttle)
    assert store.try_take(MODEL, 100, limits, 11.0) == 0.0
    assert store.note_throttle(MODEL, limits, 12.0)
    # Then the annotation survives and the AIMD state is stored
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "judge-bucket#" + MODEL}})["Item"]
    assert item["note"] == {"S": "Service Quotas L-123"}
    assert {"floor_rate", "decreased_at", "learned_quota", "spend"} <= set(item)


def test_an_unreachable_bucket_table_is_a_retryable_judge_error():
    # Given a DynamoDB client whose reads are throttled (botocore Stubber: real request validation)
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    store = DynamoDBBucketStore(client, TABLE, clock=FrozenClock())
    limits = ModelLimits(tokens_per_minute=100_000)
    with Stubber(client) as stub:
        stub.add_client_error("get_item", "ProvisionedThroughputExceededException", "slow down")
        # When tokens are taken, Then the failure is a retryable JudgeUnavailable, not a ClientError
        with pytest.raises(JudgeError) as raised:
            store.try_take(MODEL, 1_000, limits, FrozenClock().now())
    assert raised.value.code == "JudgeUnavailable"
    assert raised.value.retryable
    assert "ProvisionedThroughputExceededException" in raised.value.message
