"""Shared in-flight slots in DynamoDB: `max_in_flight` lease items per model, in the bucket table.

A judge call holds one slot item (`judge-slot#<model>#<n>`, n < max_in_flight) while it runs. To
take a slot is a PutItem conditioned on the slot being free (no item) or its lease expired
(`expires_at < now`), writing a fresh holder id and `expires_at = now + lease_ttl_s`; to give it
back is a DeleteItem conditioned on `holder = <our id>`, so a caller whose lease already expired
and was taken over never frees the new holder's slot. A Lambda that dies mid-call frees its slot
when the lease expires, so `lease_ttl_s` must exceed the longest judge call (`lease_ttl_for`).

One try costs one write when this process freed a slot since its last try (that slot is tried
first: only the head of the queue takes slots, so it is likely still free); otherwise one
consistent BatchGetItem of all the model's slots finds the free ones to try, in random order. Waiting
and backoff are the limiter's (`RateLimiter`), which owns the order, deadline and clock; this
store only tries once.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from batcheval.dynamodb_items import conditional_check_failed, from_attribute, to_attribute, to_item
from batcheval.errors import JudgeError
from batcheval.judges.ratelimit import Lease

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_KEY_PREFIX = "judge-slot#"
_BATCH_GET_LIMIT = 100
_BATCH_GET_ROUNDS = 3
_FREED_REMEMBERED = 64


def lease_ttl_for(timeout_s: float, connect_timeout_s: float = 60.0) -> float:
    """How long a shared slot stays held if its caller dies: longer than any one judge attempt.

    An attempt is bounded by the connect timeout (botocore's default 60 s) plus the read timeout
    (`timeout_s`); 30 s more covers clock skew between Lambdas. The default judge (60 s) gets 150 s.
    """
    return connect_timeout_s + timeout_s + 30.0


def _random_holder() -> str:
    # Not seeded on purpose: holder ids must differ between Lambda invocations (a seeded generator
    # would give every cold start the same ids, and one caller could then free another's slot).
    return uuid.uuid4().hex


def _slot_key(key: str, slot: int) -> str:
    return f"{_KEY_PREFIX}{key}#{slot}"


def _unavailable(key: str, error: Exception) -> JudgeError:
    return JudgeError.store_unavailable(f"in-flight slots {key!r}", error)


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), _BATCH_GET_LIMIT):
        yield keys[start : start + _BATCH_GET_LIMIT]


class DynamoDBSlotLeases:
    """In-flight slot leases in a DynamoDB table (the bucket table: partition key `pk`).

    Args:
        client: a boto3 `dynamodb` client.
        table_name: the table (see `bucket_table_definition`).
        lease_ttl_s: how long a lease lasts if never released (crashed or killed caller).
        seed: seeds the order free slots are tried in (holder ids are unique, not seeded).
        new_holder: makes a holder id (tests inject a predictable one).
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        lease_ttl_s: float = 150.0,
        seed: int = 0,
        new_holder: Callable[[], str] = _random_holder,
    ) -> None:
        if lease_ttl_s <= 0:
            raise ValueError("lease_ttl_s must be > 0")
        self._client = client
        self._table = table_name
        self._ttl = lease_ttl_s
        self._rng = random.Random(seed)
        self._new_holder = new_holder
        self._freed: dict[str, list[int]] = {}
        self._counts_lock = threading.Lock()
        self.counts = {"reads": 0, "writes": 0, "conflicts": 0}
        """DynamoDB calls made and conditional writes refused (for cost estimates and benchmarks)."""

    def _count(self, name: str) -> None:
        with self._counts_lock:
            self.counts[name] += 1

    def try_acquire(self, key: str, slots: int, now: float) -> Lease | None:
        """Take a free or expired slot of `key`'s `slots`; None when all are held."""
        with self._counts_lock:
            freed = self._freed.get(key)
            first = freed.pop() if freed else None
        if first is not None and first < slots:  # (max_in_flight may have shrunk since)
            lease = self._put(key, first, now)
            if lease is not None:
                return lease
        free = [slot for slot in self._free_slots(key, slots, now) if slot != first]
        with self._counts_lock:
            self._rng.shuffle(free)
        for slot in free:
            lease = self._put(key, slot, now)
            if lease is not None:
                return lease
        return None

    def release(self, key: str, lease: Lease) -> bool:
        """Free the slot if we still hold it; False when our lease expired and someone took it."""
        self._count("writes")
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=to_item({"pk": _slot_key(key, lease.slot)}),
                ConditionExpression="#holder = :me",
                ExpressionAttributeNames={"#holder": "holder"},
                ExpressionAttributeValues={":me": to_attribute(lease.holder)},
            )
        except ClientError as error:
            if conditional_check_failed(error):
                self._count("conflicts")
                return False
            raise _unavailable(key, error) from error
        except BotoCoreError as error:
            raise _unavailable(key, error) from error
        with self._counts_lock:
            freed = self._freed.setdefault(key, [])
            freed.append(lease.slot)
            del freed[:-_FREED_REMEMBERED]
        return True

    def busy(self, key: str, slots: int, now: float) -> int:
        """Slots held by an unexpired lease as of `now`."""
        return slots - len(self._free_slots(key, slots, now))

    def _put(self, key: str, slot: int, now: float) -> Lease | None:
        lease = Lease(slot=slot, holder=self._new_holder(), expires_at=now + self._ttl)
        self._count("writes")
        try:
            self._client.put_item(
                TableName=self._table,
                # Timestamps as floats, so they are stored with six decimals even when given whole.
                Item=to_item(
                    {
                        "pk": _slot_key(key, slot),
                        "holder": lease.holder,
                        "acquired_at": float(now),
                        "expires_at": float(lease.expires_at),
                    }
                ),
                ConditionExpression="attribute_not_exists(#pk) OR #expires_at < :now",
                ExpressionAttributeNames={"#pk": "pk", "#expires_at": "expires_at"},
                ExpressionAttributeValues={":now": to_attribute(float(now))},
            )
        except ClientError as error:
            if conditional_check_failed(error):
                self._count("conflicts")
                return None
            raise _unavailable(key, error) from error
        except BotoCoreError as error:
            raise _unavailable(key, error) from error
        return lease

    def _free_slots(self, key: str, slots: int, now: float) -> list[int]:
        """Slots with no item or an expired lease (one consistent BatchGetItem per 100 slots)."""
        held: set[str] = set()
        for chunk in _chunks([_slot_key(key, slot) for slot in range(slots)]):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [to_item({"pk": pk}) for pk in chunk],
                    "ConsistentRead": True,
                    "ProjectionExpression": "#pk, #expires_at",
                    "ExpressionAttributeNames": {"#pk": "pk", "#expires_at": "expires_at"},
                }
            }
            for _ in range(_BATCH_GET_ROUNDS):
                if not request:
                    break
                self._count("reads")
                try:
                    response = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as error:
                    raise _unavailable(key, error) from error
                for item in response.get("Responses", {}).get(self._table, []):
                    if float(from_attribute(item["expires_at"])) >= now:
                        held.add(from_attribute(item["pk"]))
                request = response.get("UnprocessedKeys") or {}
            # Keys DynamoDB still did not read count as held: we only skip trying them this round.
            held.update(from_attribute(pk["pk"]) for pk in request.get(self._table, {}).get("Keys", []))
        return [slot for slot in range(slots) if _slot_key(key, slot) not in held]
