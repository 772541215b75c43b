"""What every step of a run needs to know about its job, and the seams it reaches the world through."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from batcheval.aws import AwsClients
from batcheval.evaluators.factory import EvaluatorFactory
from batcheval.evaluators.ground_truth import GroundTruth, parse_ground_truth
from batcheval.jobs.ledger import RunLedger
from batcheval.jobs.output import DEFAULT_METRICS_NAMESPACE
from batcheval.jobs.payloads import PayloadStore, job_prefix
from batcheval.jobs.records import Job
from batcheval.jobs.store import JobStore
from batcheval.runs.output import LogWriter, OutputTarget
from batcheval.traces.discovery import SessionSource


class ClientsForOwner(Protocol):
    """Clients acting in a job owner's account (the cross-account seam)."""

    def clients_for(self, owner: str) -> AwsClients: ...


@dataclass(frozen=True)
class SameAccountClients:
    """Every owner is served with the service's own clients (single-account deployments, tests)."""

    clients: AwsClients

    def clients_for(self, owner: str) -> AwsClients:
        return self.clients


@dataclass(frozen=True)
class RunServices:
    """Everything a run step uses, built once per process by the adapter and injected."""

    store: JobStore
    ledger: RunLedger
    payloads: PayloadStore
    owners: ClientsForOwner
    source_for: Callable[[AwsClients], SessionSource]
    """A session source over an owner's clients (Insights in AWS, FilterLogEvents locally)."""
    factory_for: Callable[[str, float | None], EvaluatorFactory]
    """The evaluator factory for an owner (its custom evaluators, the shared judge), whose judge calls
    give up at the deadline (epoch seconds; None: no deadline) instead of waiting past the batch."""
    log_writer_for: Callable[[str], LogWriter]
    """The output log writer in an owner's account (remembers the groups and streams it created)."""


@dataclass(frozen=True)
class JobPlan:
    """The job's request as a run reads it: evaluators, ground truth, source and output."""

    evaluator_ids: tuple[str, ...]
    ground_truth: GroundTruth
    scenario_of: Mapping[str, str]
    """sessionId → testScenarioId from the ground truth."""
    cloudwatch_logs: Mapping[str, Any]
    spec: Mapping[str, Any]


def load_plan(payloads: PayloadStore, job: Job) -> JobPlan:
    spec = payloads.get_spec(job.spec)
    if job.data_source_in_s3:
        spec = {**spec, "dataSourceConfig": payloads.get_data_source(job.spec)}
    entries = ((spec.get("evaluationMetadata") or {}).get("sessionMetadata")) or []
    truth = parse_ground_truth(entries) if entries else GroundTruth()
    scenario_of = {
        entry["sessionId"]: entry["testScenarioId"] for entry in entries if entry.get("testScenarioId")
    }
    return JobPlan(
        evaluator_ids=tuple(e["evaluatorId"] for e in spec.get("evaluators") or []),
        ground_truth=truth,
        scenario_of=scenario_of,
        cloudwatch_logs=(spec.get("dataSourceConfig") or {}).get("cloudWatchLogs") or {},
        spec=spec,
    )


def output_target(job: Job, plan: JobPlan) -> OutputTarget | None:
    """The job's resolved log output; None when its log group is not known (nothing to write to)."""
    config = (job.output_config or {}).get("cloudWatchConfig") or {}
    group = config.get("logGroupName")
    if not group:
        return None
    services = plan.cloudwatch_logs.get("serviceNames") or ["unknown"]
    return OutputTarget(
        log_group=group,
        log_stream=config.get("logStreamName") or job.job_id,
        metrics_namespace=config.get("metricsNamespace") or DEFAULT_METRICS_NAMESPACE,
        service_name=services[0],
        job_arn=job.arn,
        job_id=job.job_id,
    )


def results_prefix(owner: str, job_id: str) -> str:
    return job_prefix(owner, job_id) + "results/"


def job_key(job: Job) -> str:
    """The KMS key protecting the job's stored data (the caller's when given, else the stack key)."""
    return job.spec.kms_key_arn
