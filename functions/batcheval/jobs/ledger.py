"""RunLedger: per-session accounting of a job's run, so every session is counted exactly once.

Items live in the jobs table under their own partition per job, `pk = RUN#<owner>#<jobId>` (tenant
scoped by key, and outside the owner's partition so a million markers never weigh on its index):

- `S#<sessionId>`  the session's marker: written once, conditionally, after its results are stored.
  Whoever wins that write owns the session's accounting (`part` names its batch commit); a retried,
  redriven or duplicated batch loses it and skips the session.
- `P#<part>`       a committed batch: the sessions it owns, their outcome counts and where its
  results and partial summary are. Aggregate merges these and never reads result rows back.

Only single-item conditional writes and batch reads: nothing here uses transactions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import orjson
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Outcome = Literal["COMPLETED", "FAILED"]
_BATCH_GET = 100
_BATCH_WRITE = 25


def run_key(owner: str, job_id: str) -> str:
    return f"RUN#{owner}#{job_id}"


@dataclass(frozen=True)
class SessionMarker:
    session_id: str
    part: str
    outcome: Outcome
    staging_key: str
    ref: dict[str, Any]


@dataclass(frozen=True)
class BatchCommit:
    """One committed batch: `completed`/`failed` sessions it owns, its objects in the payload bucket."""

    part: str
    completed: int
    failed: int
    results_key: str
    partial_key: str


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class RunLedger:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def done_sessions(self, owner: str, job_id: str, session_ids: Sequence[str]) -> set[str]:
        """Which of `session_ids` some batch already owns (BatchGetItem, 100 keys a call)."""
        pk = _s(run_key(owner, job_id))
        unique = list(dict.fromkeys(session_ids))
        found: set[str] = set()
        for start in range(0, len(unique), _BATCH_GET):
            keys: list[dict[str, Any]] = [
                {"pk": pk, "sk": _s(f"S#{sid}")} for sid in unique[start : start + _BATCH_GET]
            ]
            request: dict[str, Any] = {
                self._table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "sk"}
            }
            while request:
                response = self._db.batch_get_item(RequestItems=cast(Any, request))
                for item in response.get("Responses", {}).get(self._table, []):
                    found.add(item["sk"]["S"][2:])
                request = cast(dict[str, Any], response.get("UnprocessedKeys") or {})
        return found

    def claim(self, owner: str, job_id: str, marker: SessionMarker) -> bool:
        """Write the session's marker unless one exists; True when this batch now owns the session."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": _s(run_key(owner, job_id)),
                    "sk": _s(f"S#{marker.session_id}"),
                    "part": _s(marker.part),
                    "outcome": _s(marker.outcome),
                    "staging": _s(marker.staging_key),
                    "ref": _s(_json(marker.ref)),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def commit(self, owner: str, job_id: str, commit: BatchCommit) -> None:
        """Record a batch's commit (idempotent: the same part rewrites the same item)."""
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": _s(run_key(owner, job_id)),
                "sk": _s(f"P#{commit.part}"),
                "completed": {"N": str(commit.completed)},
                "failed": {"N": str(commit.failed)},
                "results": _s(commit.results_key),
                "partial": _s(commit.partial_key),
            },
        )

    def commits(self, owner: str, job_id: str) -> list[BatchCommit]:
        return [
            BatchCommit(
                part=item["sk"]["S"][2:],
                completed=int(item["completed"]["N"]),
                failed=int(item["failed"]["N"]),
                results_key=item["results"]["S"],
                partial_key=item["partial"]["S"],
            )
            for item in self._query(owner, job_id, "P#")
        ]

    def claimed_count(self, owner: str, job_id: str) -> int:
        """How many sessions have a marker (Select COUNT: no item comes back)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(run_key(owner, job_id)), ":prefix": _s("S#")},
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        total = 0
        while True:
            response = self._db.query(**kwargs)
            total += int(response.get("Count", 0))
            if "LastEvaluatedKey" not in response:
                return total
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def markers(self, owner: str, job_id: str) -> Iterator[SessionMarker]:
        for item in self._query(owner, job_id, "S#"):
            yield SessionMarker(
                session_id=item["sk"]["S"][2:],
                part=item["part"]["S"],
                outcome=cast(Outcome, item["outcome"]["S"]),
                staging_key=item["staging"]["S"],
                ref=orjson.loads(item["ref"]["S"]),
            )

    def _query(self, owner: str, job_id: str, prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(run_key(owner, job_id)), ":prefix": _s(prefix)},
            "ConsistentRead": True,
        }
        while True:
            response = self._db.query(**kwargs)
            yield from cast(list[dict[str, Any]], response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def release(self, owner: str, job_id: str, session_ids: Sequence[str]) -> None:
        """Forget the markers of `session_ids` so a later batch scores and claims them again."""
        pk = _s(run_key(owner, job_id))
        self._delete_keys([{"pk": pk, "sk": _s(f"S#{sid}")} for sid in session_ids])

    def purge(self, owner: str, job_id: str) -> int:
        """Delete every run item of the job (BatchWriteItem, unprocessed items retried); returns count."""
        pk = _s(run_key(owner, job_id))
        keys = [{"pk": pk, "sk": item["sk"]} for item in self._query_keys(owner, job_id)]
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

    def _query_keys(self, owner: str, job_id: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(run_key(owner, job_id))},
            "ProjectionExpression": "sk",
            "ConsistentRead": True,
        }
        while True:
            response = self._db.query(**kwargs)
            yield from cast(list[dict[str, Any]], response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
