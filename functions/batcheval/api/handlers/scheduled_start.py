"""Lambda entry point of scheduled starts (EventBridge Scheduler): `scheduled_start.lambda_handler`.

The event is the schedule's target input (infra/components/schedules.py); the domain is
`batcheval.jobs.schedule`. Returns what happened, so a console test run shows it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batcheval.api import dependencies
from batcheval.api.models import StartBatchEvaluationRequest
from batcheval.api.requests import parse
from batcheval.jobs.records import Job
from batcheval.jobs.schedule import ScheduledRun, ScheduleLedger, run_schedule
from batcheval.jobs.service import utc_now
from batcheval.observability import api_logger as logger
from batcheval.observability import lambda_entry


@cache
def ledger() -> ScheduleLedger:
    """Built once per process (cold start), on the service's settings and clients; tests call
    `ledger.cache_clear()` after changing env."""
    settings, clients = dependencies.settings_and_clients()
    return ScheduleLedger(clients.client("dynamodb"), settings.jobs_table)


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = ScheduledRun.from_event(event)
    service = dependencies.get_service()

    def start(request: dict[str, Any]) -> Job:
        return service.start(run.owner, parse(StartBatchEvaluationRequest, request).to_wire()).job

    outcome = run_schedule(
        run,
        ledger=ledger(),
        store=service.store,
        start=start,
        now=utc_now,
    )
    log = logger.warning if outcome.status == "SKIPPED" else logger.info
    log(
        "scheduled run",
        extra={"schedule": run.schedule_name, "owner": run.owner, **outcome.to_json()},
    )
    return outcome.to_json()
