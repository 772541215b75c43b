"""The ticket queue in DynamoDB: one item per model orders every Lambda invocation's judge calls.

Item `judge-queue#<key>` (in the bucket table): `issued` (the last ticket given out), `serving` (the
ticket whose turn it is), `head_seen` (when the head last said it is alive) and `gone` (a number set
of tickets that gave up before their turn). Every change is one UpdateItem:

- join: `ADD issued 1` (returns the new ticket; an atomic counter, no read);
- leave before the turn: `ADD gone {t}` conditioned on `serving < t`; once it is the turn the
  condition fails and the caller moves the queue on itself;
- move on: `SET serving = n` (the next ticket not gone) conditioned on `serving = t AND NOT
  contains(gone, n)`, so a ticket that gives up at that instant is never made the head;
- a head that stops saying it is alive (a Lambda killed while waiting) is passed over by a waiter
  that saw neither `serving` nor `head_seen` change for `stall_s` of its own time; comparing what it
  saw, never another Lambda's clock, makes this immune to clock skew. A passed-over caller that was
  only slow still goes ahead (briefly two heads; the slot and bucket writes keep the caps).

Costs per judge call: a join and a move-on (2 writes); each waiter reads the item (consistent
GetItem) about twice per call served ahead of it (`RateLimiter` paces the looks); the head writes
`head_seen` every `stall_s / 3` while it waits.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from batcheval.dynamodb_items import (
    conditional_check_failed,
    from_attribute,
    from_item,
    to_attribute,
    to_item,
)
from batcheval.errors import JudgeError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_KEY_PREFIX = "judge-queue#"


def _unavailable(key: str, error: Exception) -> JudgeError:
    return JudgeError.store_unavailable(f"judge queue {key!r}", error)


class DynamoDBTicketQueue:
    """`TicketQueue` in a DynamoDB table (the bucket table: partition key `pk`).

    Args:
        client: a boto3 `dynamodb` client.
        table_name: the table (see `bucket_table_definition`).
        stall_s: a head silent this long (as a waiter sees it) is passed over; the head keeps
            itself alive every `stall_s / 3`.
    """

    def __init__(self, client: DynamoDBClient, table_name: str, *, stall_s: float = 15.0) -> None:
        if stall_s <= 0:
            raise ValueError("stall_s must be > 0")
        self._client = client
        self._table = table_name
        self.stall_s = stall_s
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[int, float, float]] = {}
        """Per key: (serving, head_seen) as this process last saw them, and since when."""
        self._kept: dict[tuple[str, int], float] = {}
        self._serving: dict[str, int] = {}
        """Per key, the highest `serving` this process has read (tells a head it need not ask)."""
        self.counts = {"reads": 0, "writes": 0, "conflicts": 0}
        """DynamoDB calls made and conditional writes refused (for cost estimates and benchmarks)."""

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def _update(self, key: str, **kwargs: Any) -> dict[str, Any] | None:
        """One UpdateItem on the key's queue item; None when its condition failed."""
        self._count("writes")
        try:
            return dict(
                self._client.update_item(
                    TableName=self._table, Key=to_item({"pk": _KEY_PREFIX + key}), **kwargs
                )
            )
        except ClientError as error:
            if conditional_check_failed(error):
                self._count("conflicts")
                return None
            raise _unavailable(key, error) from error
        except BotoCoreError as error:
            raise _unavailable(key, error) from error

    def _read(self, key: str) -> tuple[int, float, set[int]]:
        """(serving, head_seen, gone) of the key's queue."""
        self._count("reads")
        try:
            item = self._client.get_item(
                TableName=self._table, Key=to_item({"pk": _KEY_PREFIX + key}), ConsistentRead=True
            ).get("Item", {})
        except (ClientError, BotoCoreError) as error:
            raise _unavailable(key, error) from error
        values = from_item(item)
        serving = int(values.get("serving", 1))
        head_seen = float(values.get("head_seen", 0.0))
        return serving, head_seen, {int(value) for value in values.get("gone", set())}

    def join(self, key: str, now: float) -> int:
        response = self._update(
            key,
            UpdateExpression="ADD #issued :one SET #serving = if_not_exists(#serving, :one), "
            "#head_seen = if_not_exists(#head_seen, :now)",
            ExpressionAttributeNames={"#issued": "issued", "#serving": "serving", "#head_seen": "head_seen"},
            ExpressionAttributeValues={":one": to_attribute(1), ":now": to_attribute(now)},
            ReturnValues="UPDATED_NEW",
        )
        assert response is not None  # unconditional
        return int(from_attribute(response["Attributes"]["issued"]))

    def ahead(self, key: str, ticket: int, now: float) -> int:
        serving, head_seen, _ = self._read(key)
        with self._lock:
            self._serving[key] = max(serving, self._serving.get(key, 0))
        if serving >= ticket:  # its turn (or its turn passed while it slept: it goes now)
            self.keep(key, ticket, now)
            return 0
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or seen[:2] != (serving, head_seen):
                self._seen[key] = (serving, head_seen, now)
                return ticket - serving
            stalled = now - seen[2] >= self.stall_s
            if stalled:
                self._seen[key] = (serving, head_seen, now)
        if stalled:
            self._move_on(key, serving, now, head_seen=head_seen)
        return ticket - serving

    def keep(self, key: str, ticket: int, now: float) -> None:
        with self._lock:
            last = self._kept.get((key, ticket))
            if last is None:
                self._kept[(key, ticket)] = now  # the move-on that made it the head set head_seen
                return
            if now - last < self.stall_s / 3:
                return
            self._kept[(key, ticket)] = now
        # A head that was passed over (it fell silent) keeps trying: slots and tokens are
        # conditional writes, so the caps hold even with two heads for a moment.
        self._update(
            key,
            UpdateExpression="SET #head_seen = :now",
            ConditionExpression="#serving = :ticket",
            ExpressionAttributeNames={"#head_seen": "head_seen", "#serving": "serving"},
            ExpressionAttributeValues={":now": to_attribute(now), ":ticket": to_attribute(ticket)},
        )

    def leave(self, key: str, ticket: int, now: float) -> None:
        with self._lock:
            self._kept.pop((key, ticket), None)
        if self._last_seen_serving(key) >= ticket:  # its turn: no waiting to give up
            self._move_on(key, ticket, now)
            return
        waiting = self._update(
            key,
            UpdateExpression="ADD #gone :ticket",
            ConditionExpression="#serving < :n",
            ExpressionAttributeNames={"#gone": "gone", "#serving": "serving"},
            ExpressionAttributeValues={":ticket": to_attribute({ticket}), ":n": to_attribute(ticket)},
        )
        if waiting is None:  # its turn (or it was passed over): move the queue on
            self._move_on(key, ticket, now)

    def _last_seen_serving(self, key: str) -> int:
        with self._lock:
            return self._serving.get(key, 0)

    def _move_on(self, key: str, serving: int, now: float, *, head_seen: float | None = None) -> None:
        """Make the next ticket not gone the head, if `serving` still is (and, for a stalled head,
        if it is still silent since `head_seen`). The head tries first as if no ticket had gone (one
        write); the queue is read only when that is refused."""
        gone: set[int] = set()
        read = head_seen is not None
        while True:
            if read:
                current, seen, gone = self._read(key)
                if current != serving or (head_seen is not None and seen != head_seen):
                    return
            read = True
            following = serving + 1
            skipped = []
            while following in gone:
                skipped.append(following)
                following += 1
            names = {"#serving": "serving", "#head_seen": "head_seen", "#gone": "gone"}
            values: dict[str, Any] = {
                ":serving": to_attribute(serving),
                ":next": to_attribute(following),
                ":now": to_attribute(now),
            }
            expression = "SET #serving = :next, #head_seen = :now"
            if skipped:
                expression += " DELETE #gone :skipped"
                values[":skipped"] = to_attribute(set(skipped))
            condition = "#serving = :serving AND NOT contains(#gone, :next)"
            if head_seen is not None:
                condition += " AND #head_seen = :seen"
                values[":seen"] = to_attribute(head_seen)
            moved = self._update(
                key,
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            if moved is not None:
                return
