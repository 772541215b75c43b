"""RunLedger: per-session accounting of a job's run, so every session is counted exactly once.

Items live in the jobs table under their own partition per job, `pk = RUN#<owner>#<jobId>` (tenant
scoped by key, and outside the owner's partition so a million markers never weigh on its index):

- `P#<part>`       a batch invocation (`part` = its Lambda request id). Written OPEN, naming the
  sessions it is about to score, before it claims any; rewritten COMMITTED with its counts and
  object keys once its results are published. Aggregate merges the COMMITTED ones and recovers the
  OPEN ones (an invocation that died in between) without scanning markers.
- `S#<sessionId>`  the session's marker: written once, conditionally, holding the session's result
  records (zlib-compressed JSON Lines; a large one is spilled to S3 and the key kept instead). The
  winner of that write owns the session's accounting; a retried, redriven or duplicated batch loses
  it and skips the session. Claim and verdict are one write: a verdict recorded is never paid twice.

Only single-item conditional writes and batch reads/writes: nothing here uses transactions.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import msgspec
from botocore.exceptions import ClientError

from batcheval.dynamodb_items import (
    conditional_check_failed,
    from_attribute,
    from_item,
    to_attribute,
    to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Outcome = Literal["COMPLETED", "FAILED"]
_BATCH_GET = 100
_BATCH_WRITE = 25
_UNPROCESSED_PAUSE_S = 0.05


def run_key(owner: str, job_id: str) -> str:
    return f"RUN#{owner}#{job_id}"


@dataclass(frozen=True)
class SessionMarker:
    """A claimed session: who owns it, how it went, and its result records (inline or in S3)."""

    session_id: str
    part: str
    outcome: Outcome
    ref: dict[str, Any]
    records: bytes | None = None
    """The session's result lines, JSON Lines; None when spilled (then `spill_key` names the object)."""
    spill_key: str | None = None


@dataclass(frozen=True)
class BatchCommit:
    """One committed batch: `completed`/`failed` sessions it owns, its objects in the payload bucket."""

    part: str
    completed: int
    failed: int
    results_key: str | None
    partial_key: str | None


@dataclass(frozen=True)
class OpenBatch:
    """A batch that announced its sessions and has not committed (running, or died before its commit)."""

    part: str
    session_ids: tuple[str, ...]


def _marker(item: dict[str, Any]) -> SessionMarker:
    values = from_item(item)
    packed = values.get("records")
    return SessionMarker(
        session_id=values["sk"][2:],
        part=values["part"],
        outcome=cast(Outcome, values["outcome"]),
        ref=msgspec.json.decode(values["ref"]),
        records=zlib.decompress(packed) if packed is not None else None,
        spill_key=values.get("spill"),
    )


class RunLedger:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self._table = table_name

    # ---- sessions --------------------------------------------------------------------------------
    def done_sessions(self, owner: str, job_id: str, session_ids: Sequence[str]) -> set[str]:
        """Which of `session_ids` some batch already owns."""
        return {
            from_attribute(m["sk"])[2:]
            for m in self._get_markers(owner, job_id, session_ids, projection="sk")
        }

    def markers_for(self, owner: str, job_id: str, session_ids: Sequence[str]) -> list[SessionMarker]:
        """The markers (with records) of those of `session_ids` that are claimed."""
        return [_marker(item) for item in self._get_markers(owner, job_id, session_ids, projection=None)]

    def _get_markers(
        self, owner: str, job_id: str, session_ids: Sequence[str], *, projection: str | None
    ) -> Iterator[dict[str, Any]]:
        pk = to_attribute(run_key(owner, job_id))
        unique = list(dict.fromkeys(session_ids))
        for start in range(0, len(unique), _BATCH_GET):
            keys = [{"pk": pk, "sk": to_attribute(f"S#{sid}")} for sid in unique[start : start + _BATCH_GET]]
            spec: dict[str, Any] = {"Keys": keys, "ConsistentRead": True}
            if projection is not None:
                spec["ProjectionExpression"] = projection
            request: dict[str, Any] = {self._table: spec}
            while request:
                response = self._db.batch_get_item(RequestItems=cast(Any, request))
                yield from response.get("Responses", {}).get(self._table, [])
                request = cast(dict[str, Any], response.get("UnprocessedKeys") or {})
                if request:
                    time.sleep(_UNPROCESSED_PAUSE_S)

    def claim(self, owner: str, job_id: str, marker: SessionMarker) -> bool:
        """Write the session's marker unless one exists; True when this batch now owns the session."""
        item = to_item(
            {
                "pk": run_key(owner, job_id),
                "sk": f"S#{marker.session_id}",
                "part": marker.part,
                "outcome": marker.outcome,
                "ref": msgspec.json.encode(marker.ref).decode(),
                "records": zlib.compress(marker.records) if marker.records is not None else None,
                "spill": marker.spill_key,
            }
        )
        try:
            self._db.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if conditional_check_failed(error):
                return False
            raise
        return True

    def markers(self, owner: str, job_id: str) -> Iterator[SessionMarker]:
        """Every claimed session without its records (for retrying failed sessions)."""
        for item in self._query(owner, job_id, "S#", projection="sk, part, outcome, #ref"):
            yield _marker(item)

    def release(self, owner: str, job_id: str, session_ids: Sequence[str]) -> None:
        """Forget the markers of `session_ids` so a later batch scores and claims them again."""
        pk = to_attribute(run_key(owner, job_id))
        self._delete_keys([{"pk": pk, "sk": to_attribute(f"S#{sid}")} for sid in session_ids])

    # ---- batches ---------------------------------------------------------------------------------
    def open_batch(self, owner: str, job_id: str, part: str, session_ids: Sequence[str]) -> None:
        """Announce the sessions invocation `part` may claim (before its first claim)."""
        self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": run_key(owner, job_id),
                    "sk": f"P#{part}",
                    "state": "OPEN",
                    "sessions": msgspec.json.encode(list(session_ids)).decode(),
                }
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def commit(self, owner: str, job_id: str, commit: BatchCommit) -> None:
        """Record a batch's commit (idempotent: the same part rewrites the same item)."""
        item = to_item(
            {
                "pk": run_key(owner, job_id),
                "sk": f"P#{commit.part}",
                "state": "COMMITTED",
                "completed": commit.completed,
                "failed": commit.failed,
                "results": commit.results_key,
                "partial": commit.partial_key,
            }
        )
        self._db.put_item(TableName=self._table, Item=item)

    def batches(self, owner: str, job_id: str) -> tuple[list[BatchCommit], list[OpenBatch]]:
        """Committed and still-open batches of the job."""
        committed: list[BatchCommit] = []
        open_: list[OpenBatch] = []
        for item in self._query(owner, job_id, "P#", projection=None):
            values = from_item(item)
            part = values["sk"][2:]
            if values["state"] == "OPEN":
                open_.append(OpenBatch(part, tuple(msgspec.json.decode(values["sessions"]))))
                continue
            committed.append(
                BatchCommit(
                    part=part,
                    completed=int(values["completed"]),
                    failed=int(values["failed"]),
                    results_key=values.get("results"),
                    partial_key=values.get("partial"),
                )
            )
        return committed, open_

    def commits(self, owner: str, job_id: str) -> list[BatchCommit]:
        return self.batches(owner, job_id)[0]

    # ---- plumbing --------------------------------------------------------------------------------
    def _query(
        self, owner: str, job_id: str, prefix: str | None, *, projection: str | None
    ) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": to_attribute(run_key(owner, job_id))},
            "ConsistentRead": True,
        }
        if prefix is not None:
            kwargs["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            kwargs["ExpressionAttributeValues"][":prefix"] = to_attribute(prefix)
        if projection is not None:
            kwargs["ProjectionExpression"] = projection
            if "#ref" in projection:
                kwargs["ExpressionAttributeNames"] = {"#ref": "ref"}
        while True:
            response = self._db.query(**kwargs)
            yield from cast(list[dict[str, Any]], response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def purge(self, owner: str, job_id: str) -> int:
        """Delete every run item of the job (BatchWriteItem, unprocessed items retried); returns count."""
        pk = to_attribute(run_key(owner, job_id))
        keys = [{"pk": pk, "sk": item["sk"]} for item in self._query(owner, job_id, None, projection="sk")]
        self._delete_keys(keys)
        return len(keys)

    def _delete_keys(self, keys: list[dict[str, Any]]) -> None:
        for start in range(0, len(keys), _BATCH_WRITE):
            request: dict[str, Any] = {
                self._table: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + _BATCH_WRITE]]
            }
            while request:
                response = self._db.batch_write_item(RequestItems=cast(Any, request))
                request = cast(dict[str, Any], response.get("UnprocessedItems") or {})
                if request:
                    time.sleep(_UNPROCESSED_PAUSE_S)
