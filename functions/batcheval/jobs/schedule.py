"""Scheduled jobs: one job per run of an EventBridge Scheduler schedule, never two at once.

A run carries the schedule's job template, its owner account and a relative window; the
scheduled time (from Scheduler, the same on every retry of a run) fixes the job's time range,
its unique name and its clientToken, so a retried delivery returns the same job. The last job of
each schedule is remembered in the job table (`SCHEDULE#<name>` beside the owner's jobs); while it
is still active, a new run is skipped and the reason recorded on that item instead of piling up.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from batcheval.dynamodb_items import from_attribute, to_item
from batcheval.errors import FieldIssue, ServiceQuotaExceededError, ValidationError
from batcheval.jobs.records import Job
from batcheval.jobs.status import ACTIVE
from batcheval.jobs.store import JobStore, format_instant, owner_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SCHEDULE_ITEM_PREFIX = "SCHEDULE#"


class _Window(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    lookbackMinutes: int = Field(ge=1)
    settleMinutes: int = Field(ge=0)


class _Event(BaseModel):
    """The Scheduler target input the CDK stack writes (infra/components/schedules.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    scheduleName: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_]{0,29}$")
    ownerAccountId: str = Field(pattern=r"^[0-9]{12}$")
    scheduledTime: datetime
    window: _Window
    job: dict[str, Any]


@dataclass(frozen=True)
class ScheduledRun:
    schedule_name: str
    owner: str
    scheduled_time: datetime
    lookback: timedelta
    settle: timedelta
    template: Mapping[str, Any]

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ScheduledRun:
        try:
            parsed = _Event.model_validate(event)
        except PydanticValidationError as error:
            issues = [FieldIssue(".".join(str(p) for p in e["loc"]), e["msg"]) for e in error.errors()]
            raise ValidationError("invalid scheduled-start event", fields=issues) from error
        if parsed.scheduledTime.tzinfo is None:
            raise ValidationError(
                "invalid scheduled-start event",
                fields=[FieldIssue("scheduledTime", "needs a time zone (Scheduler sends UTC with Z)")],
            )
        return cls(
            schedule_name=parsed.scheduleName,
            owner=parsed.ownerAccountId,
            scheduled_time=parsed.scheduledTime.astimezone(UTC),
            lookback=timedelta(minutes=parsed.window.lookbackMinutes),
            settle=timedelta(minutes=parsed.window.settleMinutes),
            template=parsed.job,
        )

    @property
    def time_range(self) -> tuple[datetime, datetime]:
        """`[t - settle - lookback, t - settle]`: consecutive runs cover time without gaps."""
        end = self.scheduled_time - self.settle
        return end - self.lookback, end

    @property
    def job_name(self) -> str:
        """`<schedule>_<yyyymmddThhmm>`: unique per run, within BatchEvaluationName's 48 characters."""
        return f"{self.schedule_name}_{self.scheduled_time:%Y%m%dT%H%M}"

    @property
    def client_token(self) -> str:
        """Deterministic per (owner, schedule, scheduled time): a retried delivery is the same job."""
        seed = f"{self.owner}|{self.schedule_name}|{self.scheduled_time.isoformat()}"
        return "schedule-" + hashlib.sha256(seed.encode()).hexdigest()[:40]

    def request(self) -> dict[str, Any]:
        """The StartBatchEvaluation request of this run: the template plus name, token and window."""
        request = copy.deepcopy(dict(self.template))
        start, end = self.time_range
        logs = request["dataSourceConfig"]["cloudWatchLogs"]
        logs.setdefault("filterConfig", {})["timeRange"] = {
            "startTime": _wire_time(start),
            "endTime": _wire_time(end),
        }
        request["batchEvaluationName"] = self.job_name
        request["clientToken"] = self.client_token
        return request


def _wire_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class LastRun:
    job_id: str
    scheduled_time: str


class ScheduleLedger:
    """The per-schedule item in the job table: the last job started, and the last skip and why."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, owner: str, schedule_name: str) -> dict[str, Any]:
        return to_item({"pk": owner_key(owner), "sk": SCHEDULE_ITEM_PREFIX + schedule_name})

    def last_run(self, owner: str, schedule_name: str) -> LastRun | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(owner, schedule_name), ConsistentRead=True
        ).get("Item")
        if not item or "lastJobId" not in item:
            return None
        return LastRun(
            job_id=from_attribute(item["lastJobId"]), scheduled_time=from_attribute(item["lastScheduledTime"])
        )

    def record_start(self, run: ScheduledRun, job_id: str, *, now: datetime) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(run.owner, run.schedule_name),
            UpdateExpression="SET lastJobId = :job, lastScheduledTime = :t, lastStartedAt = :now",
            ExpressionAttributeValues=to_item(
                {":job": job_id, ":t": run.scheduled_time.isoformat(), ":now": format_instant(now)}
            ),
        )

    def record_skip(self, run: ScheduledRun, reason: str, *, now: datetime) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(run.owner, run.schedule_name),
            UpdateExpression="SET lastSkippedAt = :now, lastSkippedRun = :t, lastSkipReason = :reason "
            "ADD skippedRuns :one",
            ExpressionAttributeValues=to_item(
                {
                    ":now": format_instant(now),
                    ":t": run.scheduled_time.isoformat(),
                    ":reason": reason,
                    ":one": 1,
                }
            ),
        )


@dataclass(frozen=True)
class ScheduleOutcome:
    status: Literal["STARTED", "SKIPPED"]
    job_id: str | None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "batchEvaluationId": self.job_id, "reason": self.reason}


def run_schedule(
    run: ScheduledRun,
    *,
    ledger: ScheduleLedger,
    store: JobStore,
    start: Callable[[dict[str, Any]], Job],
    now: Callable[[], datetime],
) -> ScheduleOutcome:
    """Start this run's job, unless the schedule's previous job is still active (then skip).

    `start` takes the request and starts it for `run.owner` through JobService. A run whose job
    already exists (a retried delivery) is started again, which JobService answers idempotently.
    """
    previous = ledger.last_run(run.owner, run.schedule_name)
    if previous is not None and previous.scheduled_time != run.scheduled_time.isoformat():
        job = store.get(run.owner, previous.job_id)
        if job is not None and job.status in ACTIVE:
            reason = f"the previous run's job {previous.job_id} is still {job.status}"
            ledger.record_skip(run, reason, now=now())
            return ScheduleOutcome("SKIPPED", previous.job_id, reason)
    try:
        job = start(run.request())
    except ServiceQuotaExceededError as error:
        reason = f"the owner's job quota is reached: {error.message}"
        ledger.record_skip(run, reason, now=now())
        return ScheduleOutcome("SKIPPED", None, reason)
    ledger.record_start(run, job.job_id, now=now())
    return ScheduleOutcome("STARTED", job.job_id)
