"""A `BucketStore` in DynamoDB: one token-bucket item per model, shared by every Lambda invocation.

Each change is a read (strongly consistent) followed by an UpdateItem conditioned on the item's
`version`, so concurrent takers never both spend the same tokens: the loser re-reads and recomputes
the refill from the stored timestamp. The arithmetic is the same pure code the in-process store
runs (`batcheval.judges.bucket`); the 60 s spend window is a small map of slot -> tokens.

Table: partition key `pk` (String), nothing else; see `bucket_table_definition`.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from batcheval.dynamodb_items import conditional_check_failed, from_item, to_attribute, to_item
from batcheval.errors import JudgeError
from batcheval.judges.bucket import (
    BucketState,
    ModelLimits,
    given_back,
    initial_state,
    refilled,
    take,
    throttled,
)
from batcheval.judges.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")
_KEY_PREFIX = "judge-bucket#"
_OPTIONAL = ("floor_rate", "decreased_at", "learned_quota")


def bucket_table_definition(table_name: str) -> dict[str, Any]:
    """`create_table` arguments for the bucket table (on-demand billing)."""
    return {
        "TableName": table_name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def _to_item(key: str, state: BucketState) -> dict[str, Any]:
    floor = state.floor_rate is not None and state.decreased_at is not None
    return to_item(
        {
            "pk": key,
            "tokens": state.tokens,
            "updated_at": state.updated_at,
            "version": state.version,
            "throttles": state.throttles,
            "spend": {str(slot): tokens for slot, tokens in state.spend},
            "floor_rate": state.floor_rate if floor else None,
            "decreased_at": state.decreased_at if floor else None,
            "learned_quota": state.learned_quota,
        }
    )


def _from_item(item: dict[str, Any]) -> BucketState:
    values = from_item(item)

    def number(name: str) -> float | None:
        return float(values[name]) if name in values else None

    return BucketState(
        tokens=float(values["tokens"]),
        updated_at=float(values["updated_at"]),
        version=int(values["version"]),
        floor_rate=number("floor_rate"),
        decreased_at=number("decreased_at"),
        learned_quota=number("learned_quota"),
        spend=tuple(sorted((int(slot), float(value)) for slot, value in values.get("spend", {}).items())),
        throttles=int(values.get("throttles", 0)),
    )


def _store_unavailable(key: str, error: Exception) -> JudgeError:
    return JudgeError.store_unavailable(f"rate-limit bucket {key!r}", error)


class DynamoDBBucketStore:
    """Bucket state in a DynamoDB table (low-level client injected).

    Args:
        client: a boto3 `dynamodb` client.
        table_name: the bucket table.
        max_conflicts: optimistic-write conflicts tolerated per operation before giving up with a
            retryable `JudgeError("JudgeUnavailable")` (the bucket is contended beyond reason).
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        max_conflicts: int = 50,
        clock: Clock = SYSTEM_CLOCK,
        seed: int = 0,
    ) -> None:
        self._client = client
        self._table = table_name
        self._max_conflicts = max_conflicts
        self._clock = clock
        self._rng = random.Random(seed)
        self._counts_lock = threading.Lock()
        self.counts = {"reads": 0, "writes": 0, "conflicts": 0}
        """DynamoDB calls made and write conflicts met (for cost estimates and benchmarks)."""

    def _count(self, name: str) -> None:
        with self._counts_lock:
            self.counts[name] += 1

    def _read(self, key: str) -> BucketState | None:
        self._count("reads")
        try:
            item = self._client.get_item(
                TableName=self._table, Key=to_item({"pk": _KEY_PREFIX + key}), ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as error:
            raise _store_unavailable(key, error) from error
        return _from_item(item) if item else None

    def _write(self, key: str, state: BucketState, expected_version: int | None) -> bool:
        """Conditional UpdateItem of the bucket attributes (other attributes of the item survive)."""
        item = _to_item(_KEY_PREFIX + key, state)
        del item["pk"]
        absent = [name for name in _OPTIONAL if name not in item]
        names = {f"#{name}": name for name in (*item, *absent)}
        values = {f":{name}": value for name, value in item.items()}
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name in item)
        if absent:
            expression += " REMOVE " + ", ".join(f"#{name}" for name in absent)
        if expected_version is None:
            condition = "attribute_not_exists(#pk)"
            names["#pk"] = "pk"
        else:
            condition = "#version = :expected"  # `version` is in `item`, so `#version` is named
            values[":expected"] = to_attribute(expected_version)
        self._count("writes")
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_item({"pk": _KEY_PREFIX + key}),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if conditional_check_failed(error):
                self._count("conflicts")
                return False
            raise _store_unavailable(key, error) from error
        except BotoCoreError as error:
            raise _store_unavailable(key, error) from error
        return True

    def _change(
        self,
        key: str,
        limits: ModelLimits,
        now: float,
        change: Callable[[BucketState], tuple[BucketState | None, T]],
    ) -> T:
        for _ in range(self._max_conflicts):
            stored = self._read(key)
            state = stored if stored is not None else initial_state(limits, now)
            new_state, result = change(state)
            if new_state is None:
                return result
            if self._write(key, new_state, stored.version if stored is not None else None):
                return result
            self._clock.sleep(self._rng.uniform(0.0, 0.01))
        raise JudgeError(
            "JudgeUnavailable", f"rate-limit bucket {key!r} too contended to update", retryable=True
        )

    def try_take(self, key: str, cost: float, limits: ModelLimits, now: float) -> float:
        def change(state: BucketState) -> tuple[BucketState | None, float]:
            new_state, wait = take(state, cost, limits, now)
            return (new_state if wait == 0.0 else None), wait

        return self._change(key, limits, now, change)

    def give_back(self, key: str, tokens: float, charged_at: float, limits: ModelLimits, now: float) -> None:
        def change(state: BucketState) -> tuple[BucketState | None, None]:
            return given_back(state, tokens, charged_at, limits, now), None

        self._change(key, limits, now, change)

    def note_throttle(self, key: str, limits: ModelLimits, now: float) -> bool:
        def change(state: BucketState) -> tuple[BucketState | None, bool]:
            new_state = throttled(state, limits, now)
            return new_state, new_state is not None

        return self._change(key, limits, now, change)

    def snapshot(self, key: str, limits: ModelLimits, now: float) -> BucketState:
        stored = self._read(key)
        return refilled(stored if stored is not None else initial_state(limits, now), limits, now)

    def state(self, key: str) -> BucketState | None:
        """The stored bucket (for the job summary and tests)."""
        return self._read(key)
