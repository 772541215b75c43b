"""A run's first and last acts: begin (claim the job, discover, manifest), aggregate, finalize.

Final status (reference §3.1): COMPLETED when every session to score was scored without an errored
result; COMPLETED_WITH_ERRORS when some sessions failed (or were never scored because their batch
failed beyond its retries) but at least one was evaluated; FAILED when the job could not run (no
sessions found, a bad source, no session evaluated at all). A job being stopped ends STOPPED with
what was scored. errorDetails are the service's words, at most 1,000 characters, never a trace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from batcheval.errors import AccessDeniedError, ConflictError, DomainError, SpanQueryError, ValidationError
from batcheval.jobs.ledger import OpenBatch, SessionMarker
from batcheval.jobs.output import resolve_output_config
from batcheval.jobs.payloads import MANIFEST_OBJECT
from batcheval.jobs.records import Job, RunProgress
from batcheval.jobs.status import TERMINAL, JobStatus
from batcheval.runs.context import RunServices, job_key, load_plan
from batcheval.runs.scoring import commit_batch
from batcheval.runs.summary import merge_partials
from batcheval.traces.discovery import DiscoverySettings, discover
from batcheval.traces.discovery.manifest import manifest_body

logger = logging.getLogger(__name__)

MAX_ERROR_DETAIL = 1000
PARTIAL_READERS = 16
"""Partial summaries read in parallel (20,000 batches of a 1,000,000-session job: one GET each)."""
NOTHING_EVALUATED = "No session could be evaluated: every batch of the evaluation failed."
INTERNAL_FAILURE = "The batch evaluation failed because of an internal error."
TIMED_OUT = "The batch evaluation did not finish within its time limit."
ABORTED = "The batch evaluation run was cancelled."


def no_sessions_message(cloudwatch_logs: Mapping[str, Any]) -> str:
    services = ", ".join(cloudwatch_logs.get("serviceNames") or []) or "the given service"
    return (
        f"No sessions were found for service {services} in the given log groups and time range. "
        "Check the service name, the log groups and the time range; spans can take a few minutes to arrive."
    )


def clip_detail(text: str) -> str:
    return text if len(text) <= MAX_ERROR_DETAIL else text[: MAX_ERROR_DETAIL - 1] + "…"


@dataclass(frozen=True)
class Begun:
    proceed: bool
    manifest: dict[str, str] | None = None
    total_sessions: int = 0

    def to_json(self, owner: str, job_id: str) -> dict[str, Any]:
        return {
            "owner": owner,
            "batchEvaluationId": job_id,
            "proceed": self.proceed,
            "manifest": self.manifest,
            "totalSessions": self.total_sessions,
        }


class RunLifecycle:
    def __init__(
        self,
        services: RunServices,
        discovery: DiscoverySettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._s = services
        self._discovery = discovery
        self._clock = clock

    # ---- begin ---------------------------------------------------------------------------------
    def begin(self, owner: str, job_id: str, run_id: str) -> Begun:
        """Move the job PENDING → IN_PROGRESS for this run, discover its sessions, write the manifest.

        A job stopped, deleted or owned by another run meanwhile: proceed=false, nothing else done
        (a STOPPING job is moved on to STOPPED). A job-level problem (bad source, no sessions): the
        job becomes FAILED with the reason, proceed=false.
        """
        store = self._s.store
        if not store.begin_run(owner, job_id, run_id, now=self._clock()):
            job = store.get(owner, job_id)
            if job is not None and job.status == "STOPPING":
                self._finish(job, "STOPPED", None)
            return Begun(proceed=False)
        job = store.require(owner, job_id)
        if job.retry_manifest is not None:  # retry failed sessions: the sessions are known
            total = job.progress.total if job.progress is not None else 0
            return Begun(True, {"Bucket": self._s.payloads.bucket, "Key": job.retry_manifest}, total)
        plan = load_plan(self._s.payloads, job)
        try:
            source = self._s.source_for(self._s.owners.clients_for(owner))
            found = discover(
                source, plan.cloudwatch_logs, self._discovery, now_ns=int(self._clock().timestamp() * 1e9)
            )
        except (ValidationError, SpanQueryError, AccessDeniedError) as error:
            # The caller can act on these (a bad source, unreadable spans, a missing caller role).
            self._fail(job, error.message)
            return Begun(proceed=False)
        resolved = resolve_output_config(
            job.output_config, job_id, plan.spec.get("dataSourceConfig"), source_log_groups=found.log_groups
        )
        if resolved != job.output_config:
            store.set_output_config(owner, job_id, resolved)
        store.set_progress(owner, job_id, RunProgress(total=found.total, ignored=found.ignored))
        if not found.refs:
            self._fail(job, no_sessions_message(plan.cloudwatch_logs))
            return Begun(proceed=False, total_sessions=found.total)
        key = self._s.payloads.put_job_object(
            owner=owner,
            job_id=job_id,
            job_arn=job.arn,
            kms_key_arn=job_key(job),
            name=MANIFEST_OBJECT,
            body=manifest_body(found.refs),
            content_type="application/jsonl",
        )
        return Begun(
            proceed=True,
            manifest={"Bucket": self._s.payloads.bucket, "Key": key},
            total_sessions=found.total,
        )

    # ---- aggregate -----------------------------------------------------------------------------
    def aggregate(self, owner: str, job_id: str) -> JobStatus | None:
        """Merge the committed batches into the final evaluationResults and status (idempotent).

        None when the job is gone. A finished job keeps its status and results.
        """
        job = self._s.store.get(owner, job_id)
        if job is None:
            return None
        if job.status in TERMINAL or job.status == "DELETING":
            return job.status
        if job.status == "PENDING":  # never begun (a run that ends before its first step): nothing scored
            self._fail(job, INTERNAL_FAILURE)
            return "FAILED"
        results = self.results(job)
        if job.status == "STOPPING":
            return self._finish(job, "STOPPED", results)
        scored = results["numberOfSessionsCompleted"] + results["numberOfSessionsFailed"]
        if scored == 0:
            return self._finish(job, "FAILED", results, error=NOTHING_EVALUATED)
        clean = results["numberOfSessionsFailed"] == 0 and results["numberOfSessionsInProgress"] == 0
        return self._finish(job, "COMPLETED" if clean else "COMPLETED_WITH_ERRORS", results)

    def results(self, job: Job) -> dict[str, Any]:
        """evaluationResults from the ledger's committed batches (orphaned claims committed first).

        Sessions that were to be scored but no batch owns (their batch failed past its retries)
        count as failed when the job ran to its end; a stopped job reports only what was scored.
        """
        owner, job_id = job.owner, job.job_id
        commits, open_batches = self._s.ledger.batches(owner, job_id)
        if open_batches:
            self.recover_orphans(job, open_batches)
            commits = self._s.ledger.commits(owner, job_id)
        with ThreadPoolExecutor(max_workers=PARTIAL_READERS) as pool:
            keys = [commit.partial_key for commit in commits if commit.partial_key is not None]
            bodies = pool.map(self._s.payloads.read, keys)
            merged = merge_partials(body for body in bodies if body is not None)
        completed = sum(c.completed for c in commits)
        failed = sum(c.failed for c in commits)
        progress = job.progress or RunProgress(total=completed + failed)
        unscored = max(0, progress.total - progress.ignored - completed - failed)
        if job.status != "STOPPING":
            failed += unscored
        return {
            "numberOfSessionsCompleted": completed,
            "numberOfSessionsInProgress": 0,
            "numberOfSessionsFailed": failed,
            "totalNumberOfSessions": progress.total,
            "numberOfSessionsIgnored": progress.ignored,
            **merged,
        }

    def recover_orphans(self, job: Job, open_batches: Sequence[OpenBatch]) -> int:
        """Commit the sessions claimed by batches that died before their commit; returns how many.

        Only called once the Map has finished (no batch is still running), so an OPEN batch is dead.
        """
        plan = load_plan(self._s.payloads, job)
        recovered = 0
        for batch in open_batches:
            markers = self._s.ledger.markers_for(job.owner, job.job_id, batch.session_ids)
            owned = [self._records(marker) for marker in markers if marker.part == batch.part]
            logger.warning("committing orphaned batch", extra={"part": batch.part, "sessions": len(owned)})
            commit_batch(self._s, job, plan, batch.part, owned_records=owned, time_ns=time.time_ns())
            recovered += len(owned)
        return recovered

    def _records(self, marker: SessionMarker) -> list[dict[str, Any]]:
        body = marker.records
        if body is None and marker.spill_key is not None:
            body = self._s.payloads.read(marker.spill_key)
        return [msgspec.json.decode(line) for line in (body or b"").splitlines() if line.strip()]

    # ---- finalize ------------------------------------------------------------------------------
    def finalize(self, owner: str, job_id: str, error: Mapping[str, Any] | None) -> JobStatus | None:
        """Make sure the job ends terminal: after an error (the machine's catch, an aborted, timed-out
        or failed execution) it becomes FAILED with a message in the service's words, keeping what was
        scored; a stopping job becomes STOPPED; a job being deleted is purged again (late writes)."""
        job = self._s.store.get(owner, job_id)
        if job is None or job.status == "DELETING":
            return None if job is None else job.status
        if job.status in TERMINAL:
            return job.status
        if job.status == "STOPPING" or error is None:
            return self.aggregate(owner, job_id)
        results = self.results(job) if job.status == "IN_PROGRESS" else None
        return self._finish(job, "FAILED", results, error=failure_message(error))

    # ---- helpers -------------------------------------------------------------------------------
    def _fail(self, job: Job, message: str) -> None:
        fresh = self._s.store.get(job.owner, job.job_id) or job
        results = fresh.progress.to_wire() if fresh.progress is not None else None
        self._finish(fresh, "FAILED", results, error=message)

    def _finish(
        self, job: Job, status: JobStatus, results: dict[str, Any] | None, *, error: str | None = None
    ) -> JobStatus:
        """Move to the final status; a Stop racing in turns a completion into STOPPED (retried once)."""
        details = [clip_detail(error)] if error else None
        try:
            self._s.store.transition(
                job.owner,
                job.job_id,
                status,
                now=self._clock(),
                error_details=details,
                evaluation_results=results,
                expected=job.status,
            )
            return status
        except ConflictError:
            current = self._s.store.get(job.owner, job.job_id)
            if current is None or current.status in TERMINAL or current.status == "DELETING":
                return current.status if current is not None else status
            if current.status == "STOPPING":
                return self._finish(current, "STOPPED", results)
            raise


def failure_message(error: Mapping[str, Any]) -> str:
    """errorDetails for a run that failed: a domain error's own message, else a generic sentence."""
    name = str(error.get("Error") or "")
    if name in {"States.Timeout", "TIMED_OUT"}:
        return TIMED_OUT
    if name == "ABORTED":
        return ABORTED
    cause = error.get("Cause")
    try:
        parsed = msgspec.json.decode(cause) if isinstance(cause, str) and cause.startswith("{") else None
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        parsed = None
    if isinstance(parsed, dict):
        error_type = parsed.get("errorType")
        message = parsed.get("errorMessage")
        if isinstance(error_type, str) and isinstance(message, str) and error_type in _PUBLIC_ERRORS:
            return clip_detail(message)
    return INTERNAL_FAILURE


def _public_error_names() -> frozenset[str]:
    """Domain errors whose messages are written for callers (the rest stay in the logs)."""
    names: set[str] = set()
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__name__ not in {"DomainError", "InternalError"}:
            names.add(cls.__name__)
    return frozenset(names)


_PUBLIC_ERRORS = _public_error_names()
