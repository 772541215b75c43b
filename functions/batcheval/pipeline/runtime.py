"""The pipeline's objects, built once per process (cold start) from `PipelineSettings`; replaceable.

`use(runtime)` installs a ready-made one (tests, the local orchestrator); `reset()` makes the next
invocation read the environment again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from batcheval.aws import AwsClients, OwnerClients
from batcheval.evaluators.factory import EvaluatorFactory
from batcheval.evaluators.store import DynamoEvaluatorStore
from batcheval.jobs.identifiers import new_job_id
from batcheval.jobs.ledger import RunLedger
from batcheval.jobs.page_tokens import PageTokenCodec
from batcheval.jobs.payloads import PayloadStore
from batcheval.jobs.service import JobService
from batcheval.jobs.starter import JobStarter, NoOpStarter, StepFunctionsStarter
from batcheval.jobs.store import JobStore
from batcheval.judges.base import DeadlineJudge, Judge
from batcheval.judges.settings import build_judge
from batcheval.pipeline.settings import PipelineSettings
from batcheval.runs.context import ClientsForOwner, RunServices, SameAccountClients
from batcheval.runs.lifecycle import RunLifecycle
from batcheval.runs.output import LogWriter
from batcheval.runs.scoring import BatchScorer, ScoringSettings
from batcheval.traces.discovery import (
    DiscoverySettings,
    FilterLogEventsDiscovery,
    InsightsDiscovery,
    SessionSource,
)


@dataclass
class PipelineRuntime:
    settings: PipelineSettings
    clients: AwsClients
    services: RunServices
    lifecycle: RunLifecycle
    scorer: BatchScorer

    def job_service(
        self, starter: JobStarter | None = None, *, new_id: Callable[[str], str] | None = None
    ) -> JobService:
        """JobService over the same table and bucket (console runs, re-starting stranded jobs)."""
        settings = self.settings
        if starter is None:
            starter = (
                StepFunctionsStarter(self.clients.client("stepfunctions"), settings.state_machine_arn)
                if settings.state_machine_arn
                else NoOpStarter()
            )
        kms = self.clients.client("kms")
        return JobService(
            new_id=new_id or new_job_id,
            store=self.services.store,
            payloads=self.services.payloads,
            page_tokens=PageTokenCodec(kms, settings.kms_key_arn),
            starter=starter,
            region=settings.region,
            partition=settings.partition,
            default_kms_key_arn=settings.kms_key_arn,
            max_active_jobs=settings.max_active_jobs,
            max_stored_jobs=settings.max_stored_jobs,
            ledger=self.services.ledger,
        )


def build_runtime(
    settings: PipelineSettings,
    *,
    clients: AwsClients | None = None,
    owners: ClientsForOwner | None = None,
    judge: Judge | None = None,
) -> PipelineRuntime:
    clients = clients or AwsClients(region=settings.region, endpoint_url=settings.aws_endpoint_url)
    dynamodb = clients.client("dynamodb")
    judge_lock = threading.Lock()
    judges: list[Judge] = [judge] if judge is not None else []

    def shared_judge() -> Judge:
        with judge_lock:
            if not judges:
                judges.append(build_judge(settings.judge, clients))
            return judges[0]

    stores: dict[str, DynamoEvaluatorStore | None] = {}

    def factory_for(owner: str, deadline: float | None) -> EvaluatorFactory:
        """A factory per invocation (cheap), so its judge carries that invocation's deadline; the
        owner's evaluator store and the judge (its limiter and leases) are shared by the process."""
        with judge_lock:
            if owner not in stores:
                stores[owner] = (
                    DynamoEvaluatorStore(
                        settings.evaluators_table, dynamodb, region=settings.region, account_id=owner
                    )
                    if settings.evaluators_table
                    else None
                )
            store = stores[owner]

        def judge_until() -> Judge:
            judge = shared_judge()
            if deadline is None:
                return judge
            # An attempt already started is not cut short, so the last one may start a call's
            # timeout before the invocation's deadline: it then ends before the Lambda does.
            return DeadlineJudge(judge, deadline - settings.judge.timeout_s)

        return EvaluatorFactory(
            judge=judge_until,
            store=store,
            lambda_client=lambda: clients.client("lambda"),
            model_id=settings.judge.model_id,
        )

    def source_for(owner_clients: AwsClients) -> SessionSource:
        logs = owner_clients.client("logs")
        if settings.discovery == "filter":
            return FilterLogEventsDiscovery(logs, load_margin_s=settings.filter_load_margin_seconds)
        return InsightsDiscovery(logs)

    owner_clients = owners or _owner_clients(settings, clients)
    services = RunServices(
        store=JobStore(dynamodb, settings.jobs_table),
        ledger=RunLedger(dynamodb, settings.jobs_table),
        payloads=PayloadStore(clients.client("s3"), clients.client("kms"), settings.payload_bucket),
        owners=owner_clients,
        source_for=source_for,
        factory_for=factory_for,
        log_writer_for=_log_writers(owner_clients),
    )
    discovery = DiscoverySettings(
        max_sessions=settings.max_sessions,
        settle_seconds=settings.settle_seconds,
        default_lookback_days=settings.lookback_days,
    )
    scoring = ScoringSettings(
        safety_ms=settings.deadline_safety_ms,
        stop_check_seconds=settings.stop_check_seconds,
        max_workers=settings.evaluator_workers,
    )
    return PipelineRuntime(
        settings=settings,
        clients=clients,
        services=services,
        lifecycle=RunLifecycle(services, discovery),
        scorer=BatchScorer(services, scoring, region=settings.region),
    )


def _log_writers(owners: ClientsForOwner) -> Callable[[str], LogWriter]:
    """One LogWriter per owner and process, so log groups and streams are created once, not per batch."""
    lock = threading.Lock()
    writers: dict[str, LogWriter] = {}

    def writer_for(owner: str) -> LogWriter:
        with lock:
            writer = writers.get(owner)
            if writer is None:
                writer = writers[owner] = LogWriter(owners.clients_for(owner).client("logs"))
            return writer

    return writer_for


def _owner_clients(settings: PipelineSettings, clients: AwsClients) -> ClientsForOwner:
    access = settings.caller_access()
    return OwnerClients(clients, access) if access is not None else SameAccountClients(clients)


_lock = threading.Lock()
_runtime: PipelineRuntime | None = None


def get_runtime() -> PipelineRuntime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime(PipelineSettings.from_env())
        return _runtime


def use(runtime: PipelineRuntime | None) -> None:
    global _runtime
    with _lock:
        _runtime = runtime


def reset() -> None:
    use(None)
