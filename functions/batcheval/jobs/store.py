"""JobStore: job records, name and client-token reservations, and per-owner quota counters in DynamoDB.

One table, partitioned by owner (`pk = OWNER#<account>`), so every read and write is scoped to
the tenant by its key. Items in an owner's partition:

- `JOB#<id>`      the job record (the `by_created` LSI sorts these newest first for List);
- `NAME#<name>`   reserves the name (unique per owner) for the job that holds it;
- `TOKEN#<token>` the clientToken of the Start that created the job, with the request's hash and
                  `expiresAt` (epoch seconds, the table's TTL attribute): after `TOKEN_TTL` the token
                  is honoured no more. DynamoDB deletes expired items only eventually (moto never),
                  so readers ignore them and a new Start may overwrite one;
- `COUNTERS`      `active` and `stored` job counts for the quotas.

Create writes all four in one TransactWriteItems with conditions, so concurrent Starts (also
concurrent retries of one Start) can neither create duplicates nor overshoot a quota.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import msgspec
from botocore.exceptions import ClientError

from batcheval.dynamodb_items import (
    conditional_check_failed,
    from_attribute,
    from_item,
    to_attribute,
    to_item,
)
from batcheval.errors import ConflictError, ResourceNotFoundError, ServiceQuotaExceededError, ThrottlingError
from batcheval.jobs.records import Job, RunProgress, SpecLocation
from batcheval.jobs.status import JobStatus, changes_activity, sources_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

LIST_INDEX = "by_created"
# Live progress counters on the job item (moved with ADD by the pipeline, read by Get).
PROGRESS_TOTAL = "sessionsTotal"
PROGRESS_IGNORED = "sessionsIgnored"
PROGRESS_COMPLETED = "sessionsCompleted"
PROGRESS_FAILED = "sessionsFailed"
TTL_ATTRIBUTE = "expiresAt"
TOKEN_TTL = timedelta(hours=8)
"""How long a clientToken makes Start idempotent (AWS APIs honour tokens for hours, not forever)."""
_TRANSACTION_ATTEMPTS = 4


@dataclass(frozen=True)
class TokenClaim:
    """An existing clientToken reservation: the job it created and the hash of that request."""

    job_id: str
    request_hash: str


@dataclass(frozen=True)
class Created:
    job: Job


@dataclass(frozen=True)
class TokenTaken:
    claim: TokenClaim


def owner_key(owner: str) -> str:
    return f"OWNER#{owner}"


def format_instant(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order in the list index."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def job_to_item(job: Job) -> dict[str, Any]:
    doc = {
        "description": job.description,
        "evaluators": job.evaluators,
        "outputConfig": job.output_config,
        "kmsKeyArn": job.kms_key_arn,
        "tags": job.tags,
        "dataSourceConfig": job.data_source_config,
        "dataSourceInS3": job.data_source_in_s3,
    }
    progress = job.progress
    return to_item(
        {
            "pk": owner_key(job.owner),
            "sk": f"JOB#{job.job_id}",
            "kind": "job",
            "owner": job.owner,
            "jobId": job.job_id,
            "arn": job.arn,
            "name": job.name,
            "status": job.status,
            "createdAt": format_instant(job.created_at),
            "updatedAt": format_instant(job.updated_at),
            "listKey": f"{format_instant(job.created_at)}#{job.job_id}",
            "doc": msgspec.json.encode(doc).decode(),
            "specBucket": job.spec.bucket,
            "specKey": job.spec.key,
            "specKmsKeyArn": job.spec.kms_key_arn,
            "requestHash": job.request_hash,
            # None (and no errors) leaves the attribute out.
            "clientToken": job.client_token,
            "runId": job.run_id,
            "results": msgspec.json.encode(job.evaluation_results).decode()
            if job.evaluation_results is not None
            else None,
            "errorDetails": job.error_details or None,
            PROGRESS_TOTAL: None if progress is None else progress.total,
            PROGRESS_IGNORED: None if progress is None else progress.ignored,
            PROGRESS_COMPLETED: None if progress is None else progress.completed,
            PROGRESS_FAILED: None if progress is None else progress.failed,
            "resultsExport": job.results_export,
            "retryManifest": job.retry_manifest,
        }
    )


def _progress_from_item(values: dict[str, Any]) -> RunProgress | None:
    if PROGRESS_TOTAL not in values:
        return None

    def number(name: str) -> int:
        return int(values.get(name, 0))

    return RunProgress(
        total=number(PROGRESS_TOTAL),
        ignored=number(PROGRESS_IGNORED),
        completed=number(PROGRESS_COMPLETED),
        failed=number(PROGRESS_FAILED),
    )


def job_from_item(item: Mapping[str, Any]) -> Job:
    values = from_item(item)
    doc = msgspec.json.decode(values["doc"])
    return Job(
        owner=values["owner"],
        job_id=values["jobId"],
        arn=values["arn"],
        name=values["name"],
        status=cast(JobStatus, values["status"]),
        created_at=parse_instant(values["createdAt"]),
        updated_at=parse_instant(values["updatedAt"]),
        spec=SpecLocation(values["specBucket"], values["specKey"], values["specKmsKeyArn"]),
        description=doc.get("description"),
        evaluators=doc.get("evaluators"),
        output_config=doc.get("outputConfig"),
        kms_key_arn=doc.get("kmsKeyArn"),
        tags=doc.get("tags"),
        data_source_config=doc.get("dataSourceConfig"),
        data_source_in_s3=bool(doc.get("dataSourceInS3")),
        client_token=values.get("clientToken"),
        request_hash=values["requestHash"],
        run_id=values.get("runId"),
        evaluation_results=msgspec.json.decode(values["results"]) if "results" in values else None,
        error_details=list(values.get("errorDetails", [])),
        progress=_progress_from_item(values),
        results_export=values.get("resultsExport"),
        retry_manifest=values.get("retryManifest"),
    )


def _expired(item: Mapping[str, Any], now: datetime) -> bool:
    return TTL_ATTRIBUTE in item and int(from_attribute(item[TTL_ATTRIBUTE])) <= int(now.timestamp())


def _reasons(error: ClientError) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], error.response.get("CancellationReasons") or [])


def _is_cancelled(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "TransactionCanceledException"


def _retryable_cancellation(reasons: Sequence[dict[str, Any]]) -> bool:
    """Cancelled only by concurrent transactions on the same items (no condition failed)."""
    codes = {reason.get("Code") for reason in reasons}
    return "ConditionalCheckFailed" not in codes and bool(codes & {"TransactionConflict", "ThrottlingError"})


def _key(owner: str, sk: str) -> dict[str, AttributeValueTypeDef]:
    return to_item({"pk": owner_key(owner), "sk": sk})


class JobStore:
    """DynamoDB persistence of jobs. Every method takes the owner: there is no cross-tenant access."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, token_ttl: timedelta = TOKEN_TTL) -> None:
        self._db = client
        self._table = table_name
        self._token_ttl = token_ttl

    # ---- reads ---------------------------------------------------------------------------------
    def _item(self, owner: str, sk: str) -> dict[str, Any] | None:
        response = self._db.get_item(TableName=self._table, Key=_key(owner, sk), ConsistentRead=True)
        return cast(dict[str, Any] | None, response.get("Item"))

    def get(self, owner: str, job_id: str) -> Job | None:
        item = self._item(owner, f"JOB#{job_id}")
        return job_from_item(item) if item else None

    def require(self, owner: str, job_id: str) -> Job:
        job = self.get(owner, job_id)
        if job is None:
            raise ResourceNotFoundError(f"Batch evaluation {job_id} not found.")
        return job

    def find_token(self, owner: str, client_token: str, *, now: datetime) -> TokenClaim | None:
        """The token's live claim; an expired one (TTL not yet applied) is no claim."""
        item = self._item(owner, f"TOKEN#{client_token}")
        if not item or _expired(item, now):
            return None
        return TokenClaim(
            job_id=from_attribute(item["jobId"]), request_hash=from_attribute(item["requestHash"])
        )

    def list_page(
        self, owner: str, *, limit: int, after: dict[str, str] | None
    ) -> tuple[list[Job], dict[str, str] | None]:
        """Up to `limit` jobs newest first, and the position after the last one if more exist.

        DynamoDB stops a Query page at 1 MB whatever `Limit` says, so pages are followed until
        `limit + 1` items (the extra one tells whether another page exists) or the end.
        """
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": to_attribute(owner_key(owner))},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        start: dict[str, Any] | None = None
        if after is not None:
            start = to_item({"pk": owner_key(owner), "sk": after["sk"], "listKey": after["listKey"]})
        items: list[dict[str, Any]] = []
        while len(items) <= limit:
            kwargs["Limit"] = limit + 1 - len(items)
            if start is not None:
                kwargs["ExclusiveStartKey"] = start
            response = self._db.query(**kwargs)
            items.extend(cast(list[dict[str, Any]], response.get("Items", [])))
            start = cast(dict[str, Any] | None, response.get("LastEvaluatedKey"))
            if start is None:
                break
        jobs = [job_from_item(item) for item in items[:limit]]
        if len(items) <= limit:
            return jobs, None
        last = items[limit - 1]
        return jobs, {"sk": from_attribute(last["sk"]), "listKey": from_attribute(last["listKey"])}

    # ---- writes --------------------------------------------------------------------------------
    def create(self, job: Job, *, max_active: int, max_stored: int, now: datetime) -> Created | TokenTaken:
        """Insert a new job with its name, token and quota bookkeeping in one transaction.

        Returns `TokenTaken` when the clientToken already created a job (the caller decides
        whether that is a replay or a conflict); raises ConflictError for a taken name and
        ServiceQuotaExceededError when a quota would be exceeded.
        """
        if max_active < 1 or max_stored < 1:
            raise ServiceQuotaExceededError("Batch evaluations are disabled by a quota of 0.")
        pk = to_attribute(owner_key(job.owner))
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": job_to_item(job),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": pk,
                        "sk": to_attribute(f"NAME#{job.name}"),
                        "jobId": to_attribute(job.job_id),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": pk, "sk": to_attribute("COUNTERS")},
                    "UpdateExpression": "ADD #active :one, #stored :one",
                    "ConditionExpression": (
                        "(attribute_not_exists(#active) OR #active < :maxActive) AND "
                        "(attribute_not_exists(#stored) OR #stored < :maxStored)"
                    ),
                    "ExpressionAttributeNames": {"#active": "active", "#stored": "stored"},
                    "ExpressionAttributeValues": {
                        ":one": to_attribute(1),
                        ":maxActive": to_attribute(max_active),
                        ":maxStored": to_attribute(max_stored),
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
        if job.client_token is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": pk,
                            "sk": to_attribute(f"TOKEN#{job.client_token}"),
                            "jobId": to_attribute(job.job_id),
                            "requestHash": to_attribute(job.request_hash),
                            TTL_ATTRIBUTE: to_attribute(int((now + self._token_ttl).timestamp())),
                        },
                        # A free token, or one whose window has passed (its record is replaced).
                        "ConditionExpression": "attribute_not_exists(pk) OR #expiresAt <= :now",
                        "ExpressionAttributeNames": {"#expiresAt": TTL_ATTRIBUTE},
                        "ExpressionAttributeValues": {":now": to_attribute(int(now.timestamp()))},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
        try:
            self._transact(items)
        except ClientError as error:
            if not _is_cancelled(error):
                raise
            return self._explain_create_failure(job, _reasons(error), max_active, max_stored, error, now)
        return Created(job)

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems, retried while it is cancelled only by concurrent transactions.

        Every transaction of an owner touches its one COUNTERS item, so two at once (a Stop while
        the pipeline finishes another job) can cancel each other with no condition failing. Still
        contended after the last try → ThrottlingError: the caller's retry (boto3 retries 429 by
        itself) may succeed, unlike after a ConflictException or a 500.
        """
        for attempt in range(_TRANSACTION_ATTEMPTS):
            try:
                self._db.transact_write_items(TransactItems=cast(Any, items))
                return
            except ClientError as error:
                if not (_is_cancelled(error) and _retryable_cancellation(_reasons(error))):
                    raise
                if attempt + 1 == _TRANSACTION_ATTEMPTS:
                    raise ThrottlingError(
                        "Too many concurrent changes to this account's jobs; retry."
                    ) from error
                time.sleep(0.05 * (attempt + 1))

    def _explain_create_failure(
        self,
        job: Job,
        reasons: list[dict[str, Any]],
        max_active: int,
        max_stored: int,
        error: ClientError,
        now: datetime,
    ) -> TokenTaken:
        def failed(index: int) -> dict[str, Any] | None:
            if index < len(reasons) and reasons[index].get("Code") == "ConditionalCheckFailed":
                return reasons[index].get("Item") or {}
            return None

        # The token is checked first: a replay also collides on the name it reserved.
        token_item = failed(3)
        if token_item is not None:
            if "jobId" not in token_item:  # pragma: no cover - DynamoDB always returns ALL_OLD
                claim = self.find_token(job.owner, job.client_token or "", now=now)
                if claim is None:
                    raise ConflictError(
                        "The clientToken is in use by a concurrent request; retry."
                    ) from error
                return TokenTaken(claim)
            return TokenTaken(
                TokenClaim(from_attribute(token_item["jobId"]), from_attribute(token_item["requestHash"]))
            )
        name_item = failed(1)
        if name_item is not None:
            # A concurrent retry of the same Start may surface as the name collision first.
            holder = self.get(job.owner, from_attribute(name_item["jobId"])) if "jobId" in name_item else None
            if (
                holder is not None
                and job.client_token is not None
                and holder.client_token == job.client_token
                and holder.created_at + self._token_ttl > now  # the holder's token still counts
            ):
                return TokenTaken(TokenClaim(holder.job_id, holder.request_hash))
            raise ConflictError(
                f"A batch evaluation named {job.name} already exists in this account."
            ) from error
        counters = failed(2)
        if counters is not None:
            active = int(from_attribute(counters["active"])) if "active" in counters else 0
            if active >= max_active:
                raise ServiceQuotaExceededError(
                    f"Quota of {max_active} active batch evaluations reached; stop or wait for one to finish."
                ) from error
            raise ServiceQuotaExceededError(
                f"Quota of {max_stored} stored batch evaluations reached; delete some to create more."
            ) from error
        raise error

    def transition(
        self,
        owner: str,
        job_id: str,
        target: JobStatus,
        *,
        now: datetime,
        require_no_run: bool = False,
        error_details: list[str] | None = None,
        evaluation_results: dict[str, Any] | None = None,
        expected: JobStatus | None = None,
    ) -> Job:
        """Move a job to `target` if the status table allows it from its current status.

        The allowed sources are the condition of the write, so two racing transitions cannot both
        win. Leaving or entering an active status moves the owner's active counter in the same
        transaction. `expected` narrows the source to one status; `evaluation_results` stores the final
        results with the move. Raises ResourceNotFoundError or ConflictError (naming the current status).
        """
        current = self.require(owner, job_id)
        sources = sources_of(target)
        if current.status not in sources or (expected is not None and current.status != expected):
            raise ConflictError(f"Batch evaluation {job_id} is {current.status}; it cannot become {target}.")
        names = {"#status": "status", "#updatedAt": "updatedAt"}
        values: dict[str, Any] = {
            ":from": to_attribute(current.status),
            ":to": to_attribute(target),
            ":now": to_attribute(format_instant(now)),
        }
        update = "SET #status = :to, #updatedAt = :now"
        condition = "#status = :from"
        if require_no_run:
            names["#runId"] = "runId"
            condition += " AND attribute_not_exists(#runId)"
        if error_details is not None:
            names["#errorDetails"] = "errorDetails"
            values[":errors"] = to_attribute(error_details)
            update += ", #errorDetails = :errors"
        if evaluation_results is not None:
            names["#results"] = "results"
            values[":results"] = to_attribute(msgspec.json.encode(evaluation_results).decode())
            update += ", #results = :results"
        pk = to_attribute(owner_key(owner))
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": pk, "sk": to_attribute(f"JOB#{job_id}")},
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        delta = changes_activity(current.status, target)
        if delta:
            items.append(self._counter_update(pk, "active", delta))
        try:
            self._transact(items)
        except ClientError as error:
            if not _is_cancelled(error):
                raise
            # Lost a race: report against what is there now.
            latest = self.require(owner, job_id)
            raise ConflictError(
                f"Batch evaluation {job_id} changed concurrently (now {latest.status}); "
                f"it cannot become {target}."
            ) from error
        return replace(
            current,
            status=target,
            updated_at=now,
            error_details=error_details if error_details is not None else current.error_details,
            evaluation_results=evaluation_results
            if evaluation_results is not None
            else current.evaluation_results,
        )

    def begin_run(self, owner: str, job_id: str, run_id: str, *, now: datetime) -> bool:
        """PENDING → IN_PROGRESS for the run `run_id` (the pipeline's first act), or confirm it.

        True when the job is (now) IN_PROGRESS with this run: also when a retried first step finds
        its own earlier move. False when the job left PENDING otherwise (stopped, failed) or belongs
        to another run: the run must end quietly. One single-item conditional write (PENDING and
        IN_PROGRESS are both active, so the quota counter does not move).
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(owner, f"JOB#{job_id}"),
                UpdateExpression="SET #status = :running, #runId = :run, #updatedAt = :now",
                ConditionExpression=(
                    "(#status = :pending AND (attribute_not_exists(#runId) OR #runId = :run)) OR "
                    "(#status = :running AND #runId = :run)"
                ),
                ExpressionAttributeNames={"#status": "status", "#runId": "runId", "#updatedAt": "updatedAt"},
                ExpressionAttributeValues={
                    ":pending": to_attribute("PENDING"),
                    ":running": to_attribute("IN_PROGRESS"),
                    ":run": to_attribute(run_id),
                    ":now": to_attribute(format_instant(now)),
                },
            )
        except ClientError as error:
            if not conditional_check_failed(error):
                raise
            return False
        return True

    def set_progress(self, owner: str, job_id: str, progress: RunProgress) -> None:
        """Start the live counters once discovery knows the sessions (completed/failed reset to 0)."""
        self._db.update_item(
            TableName=self._table,
            Key=_key(owner, f"JOB#{job_id}"),
            UpdateExpression="SET #t = :t, #i = :i, #c = :c, #f = :f",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={
                "#t": PROGRESS_TOTAL,
                "#i": PROGRESS_IGNORED,
                "#c": PROGRESS_COMPLETED,
                "#f": PROGRESS_FAILED,
            },
            ExpressionAttributeValues={
                ":t": to_attribute(progress.total),
                ":i": to_attribute(progress.ignored),
                ":c": to_attribute(progress.completed),
                ":f": to_attribute(progress.failed),
            },
        )

    def add_progress(
        self, owner: str, job_id: str, *, completed: int, failed: int, results_export: str | None
    ) -> None:
        """ADD to the live counters (one single-item write per batch; never a transaction).

        A job deleted meanwhile is left alone (the condition keeps the write from recreating it).
        """
        names = {"#c": PROGRESS_COMPLETED, "#f": PROGRESS_FAILED}
        values: dict[str, Any] = {":c": to_attribute(completed), ":f": to_attribute(failed)}
        update = "ADD #c :c, #f :f"
        if results_export is not None:
            names["#x"] = "resultsExport"
            values[":x"] = to_attribute(results_export)
            update += " SET #x = if_not_exists(#x, :x)"
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(owner, f"JOB#{job_id}"),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if not conditional_check_failed(error):
                raise

    def set_output_config(self, owner: str, job_id: str, output_config: dict[str, Any]) -> None:
        """Store the resolved outputConfig (SOURCE_LOG_GROUP learns its group only at discovery).

        Rewrites the item's `doc` only if nobody changed it meanwhile (a compare-and-set on it).
        """
        item = self._item(owner, f"JOB#{job_id}")
        if item is None:
            raise ResourceNotFoundError(f"Batch evaluation {job_id} not found.")
        doc = msgspec.json.decode(from_attribute(item["doc"]))
        doc["outputConfig"] = output_config
        self._db.update_item(
            TableName=self._table,
            Key=_key(owner, f"JOB#{job_id}"),
            UpdateExpression="SET #doc = :new",
            ConditionExpression="#doc = :old",
            ExpressionAttributeNames={"#doc": "doc"},
            ExpressionAttributeValues={
                ":new": to_attribute(msgspec.json.encode(doc).decode()),
                ":old": item["doc"],
            },
        )

    def prepare_retry(self, job: Job, *, manifest_key: str, progress: RunProgress, now: datetime) -> Job:
        """A finished job back to PENDING for a run over `manifest_key` (retry failed sessions).

        Its run, final results and errorDetails are cleared and the live counters set to `progress`;
        the job counts as active again. ConflictError if it changed meanwhile.
        """
        pk = to_attribute(owner_key(job.owner))
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": pk, "sk": to_attribute(f"JOB#{job.job_id}")},
                    "UpdateExpression": (
                        "SET #status = :pending, #updatedAt = :now, #manifest = :manifest, "
                        "#t = :t, #i = :i, #c = :c, #f = :f REMOVE #runId, #results, #errors"
                    ),
                    "ConditionExpression": "#status = :from",
                    "ExpressionAttributeNames": {
                        "#status": "status",
                        "#updatedAt": "updatedAt",
                        "#manifest": "retryManifest",
                        "#runId": "runId",
                        "#results": "results",
                        "#errors": "errorDetails",
                        "#t": PROGRESS_TOTAL,
                        "#i": PROGRESS_IGNORED,
                        "#c": PROGRESS_COMPLETED,
                        "#f": PROGRESS_FAILED,
                    },
                    "ExpressionAttributeValues": {
                        ":pending": to_attribute("PENDING"),
                        ":from": to_attribute(job.status),
                        ":now": to_attribute(format_instant(now)),
                        ":manifest": to_attribute(manifest_key),
                        ":t": to_attribute(progress.total),
                        ":i": to_attribute(progress.ignored),
                        ":c": to_attribute(progress.completed),
                        ":f": to_attribute(progress.failed),
                    },
                }
            },
            self._counter_update(pk, "active", changes_activity(job.status, "PENDING")),
        ]
        try:
            self._transact(items)
        except ClientError as error:
            if not _is_cancelled(error):
                raise
            raise ConflictError(f"Batch evaluation {job.job_id} changed concurrently; retry.") from error
        return self.require(job.owner, job.job_id)

    def stranded(self, owner: str, *, created_before: datetime) -> list[Job]:
        """PENDING jobs with no run created before `created_before` (their start crashed)."""
        response_items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": "pk = :pk AND listKey < :before",
            "FilterExpression": "#status = :pending AND attribute_not_exists(#runId)",
            "ExpressionAttributeNames": {"#status": "status", "#runId": "runId"},
            "ExpressionAttributeValues": {
                ":pk": to_attribute(owner_key(owner)),
                ":before": to_attribute(format_instant(created_before)),
                ":pending": to_attribute("PENDING"),
            },
        }
        while True:
            response = self._db.query(**kwargs)
            response_items.extend(cast(list[dict[str, Any]], response.get("Items", [])))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return [job_from_item(item) for item in response_items]

    def record_run(self, owner: str, job_id: str, run_id: str, *, now: datetime) -> Job:
        """Attach the pipeline run that was started for a still-PENDING job (once).

        Also fine when the run's first step recorded this same run first. ConflictError when the job
        has another run or left PENDING without this run (a Stop moved it to STOPPED while the run was
        starting): the caller must then stop the run it started.
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(owner, f"JOB#{job_id}"),
                UpdateExpression="SET #runId = :run, #updatedAt = :now",
                # Or the run already began itself (its first step recorded this same run id): a run
                # started in-process, or a fast first step, must not be taken for a lost race.
                ConditionExpression="(#status = :pending AND attribute_not_exists(#runId)) OR #runId = :run",
                ExpressionAttributeNames={"#runId": "runId", "#updatedAt": "updatedAt", "#status": "status"},
                ExpressionAttributeValues={
                    ":run": to_attribute(run_id),
                    ":now": to_attribute(format_instant(now)),
                    ":pending": to_attribute("PENDING"),
                },
            )
        except ClientError as error:
            if not conditional_check_failed(error):
                raise
            raise ConflictError(f"Batch evaluation {job_id} is no longer PENDING without a run.") from error
        return self.require(owner, job_id)

    def remove(self, job: Job) -> None:
        """Delete a DELETING job's item, its reservations, and release its stored-job quota."""
        pk = to_attribute(owner_key(job.owner))
        items: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"pk": pk, "sk": to_attribute(f"JOB#{job.job_id}")},
                    "ConditionExpression": "#status = :deleting",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":deleting": to_attribute("DELETING")},
                }
            },
            self._owned_reservation_delete(pk, f"NAME#{job.name}", job.job_id),
            self._counter_update(pk, "stored", -1),
        ]
        if job.client_token is not None:
            items.append(self._owned_reservation_delete(pk, f"TOKEN#{job.client_token}", job.job_id))
        try:
            self._transact(items)
        except ClientError as error:
            if not _is_cancelled(error):
                raise
            raise ConflictError(f"Batch evaluation {job.job_id} changed while being deleted.") from error

    def _owned_reservation_delete(self, pk: AttributeValueTypeDef, sk: str, job_id: str) -> dict[str, Any]:
        # Only the job's own reservation; a missing one (never written) is fine.
        return {
            "Delete": {
                "TableName": self._table,
                "Key": {"pk": pk, "sk": to_attribute(sk)},
                "ConditionExpression": "attribute_not_exists(pk) OR jobId = :job",
                "ExpressionAttributeValues": {":job": to_attribute(job_id)},
            }
        }

    def _counter_update(self, pk: AttributeValueTypeDef, counter: str, delta: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": pk, "sk": to_attribute("COUNTERS")},
                "UpdateExpression": "ADD #counter :delta",
                "ExpressionAttributeNames": {"#counter": counter},
                "ExpressionAttributeValues": {":delta": to_attribute(delta)},
            }
        }

    def counters(self, owner: str) -> dict[str, int]:
        """The owner's quota counters (`active`, `stored`); missing means 0."""
        item = self._item(owner, "COUNTERS") or {}
        values = from_item(item)
        return {name: int(values.get(name, 0)) for name in ("active", "stored")}
