"""JobService: the five batch-evaluation operations on behalf of one owner (an AWS account).

Takes requests already validated against the wire model (JSON-ready dicts) and applies the
service rules: unsupported features, idempotency on clientToken, name uniqueness and quotas (via
the store's transactions), payload storage in S3 with KMS, the status machine, and cleanup.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from batcheval.errors import ConflictError, DomainError, FieldIssue, ValidationError
from batcheval.jobs.identifiers import job_arn, new_job_id
from batcheval.jobs.ledger import RunLedger, SessionMarker
from batcheval.jobs.output import resolve_output_config
from batcheval.jobs.page_tokens import PageTokenCodec
from batcheval.jobs.payloads import MANIFEST_OBJECT, PayloadStore, job_prefix
from batcheval.jobs.records import Job, JobPage, RunProgress, SpecLocation
from batcheval.jobs.starter import JobStarter
from batcheval.jobs.status import ACTIVE, TERMINAL, sources_of
from batcheval.jobs.store import Created, JobStore, TokenClaim
from batcheval.runs.summary import BatchPartial
from batcheval.traces.discovery import SessionRef
from batcheval.traces.discovery.manifest import manifest_body

logger = logging.getLogger(__name__)

DEFAULT_MAX_RESULTS = 10
# dataSourceConfig larger than this (e.g. 500 sessions x 100 trace ids) is echoed from its own S3 object.
INLINE_DATA_SOURCE_LIMIT = 32_000
START_FAILED_MESSAGE = "The evaluation pipeline could not be started."


def _session_of(line: bytes) -> str:
    return str(msgspec.json.decode(line)["context"]["spanContext"]["sessionId"])


def utc_now() -> datetime:
    return datetime.now(UTC)


def request_hash(request: dict[str, Any]) -> str:
    """Hash of a Start request without its clientToken: same request ⇔ same hash."""
    body = {key: value for key, value in request.items() if key != "clientToken"}
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()


NO_EVALUATOR_MESSAGE = "Name at least one evaluator in evaluators."
DATA_SOURCE_KEY_UNUSABLE = (
    "dataSourceConfig is omitted: the KMS key it is encrypted with cannot be used"
    " (disabled, pending deletion, deleted, or kms:Decrypt not allowed)."
)


def key_unusable(error: ClientError) -> bool:
    """S3 refused to decrypt because of the object's KMS key (not S3 itself, not throttling)."""
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    if code.startswith("KMS."):  # KMS.DisabledException, KMS.KMSInvalidStateException, KMS.NotFoundException
        return True
    return code == "AccessDenied" and "kms" in details.get("Message", "").lower()


def request_issues(request: Mapping[str, Any]) -> list[FieldIssue]:
    """What this deployment refuses in a Start request beyond the wire model.

    Features it cannot honour yet (rejected, never silently ignored) and a job with no evaluator
    (with insights unsupported it would evaluate nothing). Safe on a raw, unvalidated body, so the
    API can name these together with the model's own errors in one ValidationException.
    """
    issues: list[FieldIssue] = []
    if request.get("insights"):
        issues.append(FieldIssue("insights", "insights are not supported by this deployment yet."))
    if request.get("datasetExecutionConfig") is not None:
        issues.append(
            FieldIssue(
                "datasetExecutionConfig", "datasetExecutionConfig is not supported by this deployment yet."
            )
        )
    source = request.get("dataSourceConfig")
    if isinstance(source, Mapping) and source.get("onlineEvaluationConfigSource") is not None:
        issues.append(
            FieldIssue(
                "dataSourceConfig.onlineEvaluationConfigSource",
                "onlineEvaluationConfigSource is not supported by this deployment yet; use cloudWatchLogs.",
            )
        )
    if not request.get("evaluators"):
        issues.append(FieldIssue("evaluators", NO_EVALUATOR_MESSAGE))
    return issues


EvaluatorCheck = Callable[[str, Sequence[str]], None]
"""(owner, evaluator ids) -> None; raises ValidationError naming each unknown `evaluators[i].evaluatorId`."""


@dataclass(frozen=True)
class StartResult:
    job: Job
    created: bool  # False when a retry with the same clientToken returned the existing job


@dataclass(frozen=True)
class JobView:
    """A job with its dataSourceConfig resolved (from the item or, when large, from S3)."""

    job: Job
    data_source_config: dict[str, Any] | None
    data_source_unavailable: str | None = None
    """Why dataSourceConfig is missing although the job has one (its KMS key is unusable)."""


class JobService:
    def __init__(
        self,
        *,
        store: JobStore,
        payloads: PayloadStore,
        page_tokens: PageTokenCodec,
        starter: JobStarter,
        region: str,
        partition: str,
        default_kms_key_arn: str,
        max_active_jobs: int,
        max_stored_jobs: int,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[str], str] = new_job_id,
        evaluator_check: EvaluatorCheck | None = None,
        ledger: RunLedger | None = None,
    ) -> None:
        self._store = store
        self._payloads = payloads
        self._tokens = page_tokens
        self._starter = starter
        self._region = region
        self._partition = partition
        self._default_key = default_kms_key_arn
        self._max_active = max_active_jobs
        self._max_stored = max_stored_jobs
        self._clock = clock
        self._new_id = new_id
        self._evaluator_check = evaluator_check
        self._ledger = ledger

    @property
    def store(self) -> JobStore:
        return self._store

    # ---- Start ---------------------------------------------------------------------------------
    def start(self, owner: str, request: dict[str, Any]) -> StartResult:
        issues = request_issues(request)
        unsupported = [issue.name for issue in issues if issue.message != NO_EVALUATOR_MESSAGE]
        if unsupported:
            raise ValidationError(
                "The request uses features not supported by this deployment yet: " + ", ".join(unsupported),
                fields=issues,
            )
        if issues:
            raise ValidationError(NO_EVALUATOR_MESSAGE, fields=issues)
        token: str | None = request.get("clientToken")
        fingerprint = request_hash(request)
        if token is not None:
            claim = self._store.find_token(owner, token, now=self._clock())
            if claim is not None:
                return self._replay(owner, claim, fingerprint)
        if self._evaluator_check is not None:
            self._evaluator_check(owner, [e["evaluatorId"] for e in request.get("evaluators") or []])

        caller_key: str | None = request.get("kmsKeyArn")
        if caller_key is not None:
            self._check_caller_key(caller_key)
        name: str = request["batchEvaluationName"]
        job_id = self._new_id(name)
        arn = job_arn(partition=self._partition, region=self._region, account=owner, job_id=job_id)
        body = {key: value for key, value in request.items() if key != "clientToken"}
        data_source = request["dataSourceConfig"]
        inline = len(msgspec.json.encode(data_source)) <= INLINE_DATA_SOURCE_LIMIT
        try:
            # Every write of a job's objects is inside: a failure at any point leaves nothing behind.
            spec = self._payloads.put_spec(
                owner=owner,
                job_id=job_id,
                job_arn=arn,
                kms_key_arn=caller_key or self._default_key,
                spec=body,
                data_source=None if inline else data_source,
            )
            job = self._new_job(owner, job_id, arn, request, token, fingerprint, spec, inline=inline)
            outcome = self._store.create(
                job, max_active=self._max_active, max_stored=self._max_stored, now=self._clock()
            )
        except BaseException:
            self._discard_objects(owner, job_id)
            raise
        if not isinstance(outcome, Created):
            # A concurrent retry with the same token won: drop our copy and answer as a replay.
            self._discard_objects(owner, job_id)
            return self._replay(owner, outcome.claim, fingerprint)
        return StartResult(self._hand_to_pipeline(outcome.job), created=True)

    def _discard_objects(self, owner: str, job_id: str) -> None:
        """Remove a Start's objects after it failed; a failing clean-up is logged, never raised over
        the error that caused it."""
        try:
            self._payloads.delete_job_objects(owner, job_id)
        except (ClientError, DomainError):
            logger.exception("objects of a failed Start left behind", extra={"batchEvaluationId": job_id})

    def _check_caller_key(self, key_arn: str) -> None:
        key_region = key_arn.split(":")[3]
        if key_region != self._region:
            message = f"The KMS key must be in the service's Region ({self._region}), not {key_region}."
            raise ValidationError(message, fields=[FieldIssue("kmsKeyArn", message)])
        self._payloads.check_key(key_arn)

    def _new_job(
        self,
        owner: str,
        job_id: str,
        arn: str,
        request: dict[str, Any],
        token: str | None,
        fingerprint: str,
        spec: SpecLocation,
        *,
        inline: bool,
    ) -> Job:
        now = self._clock()
        data_source = request["dataSourceConfig"]
        return Job(
            owner=owner,
            job_id=job_id,
            arn=arn,
            name=request["batchEvaluationName"],
            status="PENDING",
            created_at=now,
            updated_at=now,
            spec=spec,
            description=request.get("description"),
            evaluators=request.get("evaluators"),
            output_config=resolve_output_config(request.get("outputConfig"), job_id, data_source),
            kms_key_arn=request.get("kmsKeyArn"),
            tags=request.get("tags"),
            data_source_config=data_source if inline else None,
            data_source_in_s3=not inline,
            client_token=token,
            request_hash=fingerprint,
        )

    def _replay(self, owner: str, claim: TokenClaim, fingerprint: str) -> StartResult:
        if claim.request_hash != fingerprint:
            raise ConflictError("The clientToken was already used with different request parameters.")
        job = self._store.get(owner, claim.job_id)
        if job is None:
            raise ConflictError("The job created with this clientToken is being deleted; use a new token.")
        if job.status == "PENDING" and job.run_id is None:
            # The first Start crashed before its run was recorded: the retry starts it (the run's
            # name is the job's, so if it did start, this finds that same run).
            job = self._hand_to_pipeline(job)
        return StartResult(job, created=False)

    def resume_stranded(self, owner: str, *, grace_seconds: float) -> list[Job]:
        """Start the runs of PENDING run-less jobs older than the grace period (their Start crashed).

        The pipeline calls this when a job of the owner ends; the run name is the job's, so a Start
        that was merely slow and starts the same run meanwhile is harmless.
        """
        cutoff = self._clock().timestamp() - grace_seconds
        resumed = []
        for job in self._store.stranded(owner, created_before=datetime.fromtimestamp(cutoff, UTC)):
            resumed.append(self._hand_to_pipeline(job))
        return resumed

    def _hand_to_pipeline(self, job: Job) -> Job:
        try:
            run_id = self._starter.start(job)
        except Exception:
            # The job exists (a retry returns it), so it must say it failed rather than sit PENDING.
            logger.exception("starting the pipeline failed", extra={"batchEvaluationId": job.job_id})
            return self._store.transition(
                job.owner, job.job_id, "FAILED", now=self._clock(), error_details=[START_FAILED_MESSAGE]
            )
        if run_id is None:
            return job
        try:
            return self._store.record_run(job.owner, job.job_id, run_id, now=self._clock())
        except ConflictError:
            # A Stop (or Delete) won the race: the job never gets this run, so the run must not go on.
            logger.warning("job left PENDING while its run started", extra={"batchEvaluationId": job.job_id})
            self._starter.stop(replace(job, run_id=run_id))
            return self._store.get(job.owner, job.job_id) or job

    # ---- Get / List ----------------------------------------------------------------------------
    def get(self, owner: str, job_id: str) -> JobView:
        job = self._store.require(owner, job_id)
        data_source = job.data_source_config
        unavailable: str | None = None
        if job.data_source_in_s3:
            try:
                data_source = self._payloads.get_data_source(job.spec)
            except ClientError as error:
                if not key_unusable(error):
                    raise  # throttling, a missing object, anything else: an error, never a quiet gap
                # As AgentCore: with the key unusable, Get still answers with the job's metadata.
                logger.warning("data source unreadable", extra={"batchEvaluationId": job_id}, exc_info=True)
                data_source = None
                unavailable = DATA_SOURCE_KEY_UNUSABLE
        return JobView(job, data_source, unavailable)

    def list_jobs(self, owner: str, *, max_results: int | None, next_token: str | None) -> JobPage:
        after = self._tokens.decode(owner, next_token) if next_token is not None else None
        jobs, position = self._store.list_page(owner, limit=max_results or DEFAULT_MAX_RESULTS, after=after)
        token = self._tokens.encode(owner, position) if position is not None else None
        return JobPage(jobs, token)

    # ---- Stop / Delete -------------------------------------------------------------------------
    def stop(self, owner: str, job_id: str) -> Job:
        job = self._store.require(owner, job_id)
        if job.status == "STOPPING":
            # Ask again: a retry heals a stop request the pipeline did not receive.
            self._starter.stop(job)
            return job
        if job.status in TERMINAL or job.status == "DELETING":
            raise ConflictError(f"Batch evaluation {job_id} is {job.status} and cannot be stopped.")
        if job.status == "PENDING" and job.run_id is None:
            try:
                return self._store.transition(
                    owner, job_id, "STOPPED", now=self._clock(), require_no_run=True
                )
            except ConflictError:
                job = self._store.require(owner, job_id)  # a run started meanwhile: stop that run
                if job.status == "STOPPING":
                    return job
                if job.status == "PENDING" and job.run_id is None:
                    raise  # nothing to stop yet: never leave a run-less job waiting in STOPPING
        stopping = self._store.transition(owner, job_id, "STOPPING", now=self._clock())
        self._starter.stop(stopping)
        return stopping

    def delete(self, owner: str, job_id: str) -> Job:
        """Stop a running job's run, then remove its record, stored objects and run accounting.

        Objects a still-running step writes after this are removed again when the run ends (the
        pipeline's finalizer completes the Delete of a job it finds DELETING or gone). A failure
        leaves the job DELETING; the next Delete finishes it.
        """
        job = self._store.require(owner, job_id)
        if job.status not in sources_of("DELETING"):  # pragma: no cover - every status may be deleted
            raise ConflictError(f"Batch evaluation {job_id} is {job.status} and cannot be deleted.")
        if job.status in ACTIVE and job.run_id is not None:
            self._starter.stop(job)
        deleting = (
            job
            if job.status == "DELETING"
            else self._store.transition(owner, job_id, "DELETING", now=self._clock())
        )
        self.purge(owner, job_id)
        self._store.remove(deleting)
        return deleting

    # ---- Retry failed sessions (extension) -----------------------------------------------------
    def retry_failed(self, owner: str, job_id: str) -> Job:
        """Re-score only the failed (and never-scored) sessions of a finished job, into its result set.

        The batches that hold failed sessions are rewritten without them (export object, partial
        summary, ledger counts), the failed sessions' claims are released, and a run is started over
        a manifest of just those sessions; Aggregate then merges old and new batches as one job.
        Log records already written for the failed results stay in the output log group (CloudWatch
        Logs is append-only); the new run adds the new ones. ConflictError unless the job is
        COMPLETED_WITH_ERRORS or FAILED with something to retry.
        """
        job = self._store.require(owner, job_id)
        if job.status not in {"COMPLETED_WITH_ERRORS", "FAILED"} or self._ledger is None:
            raise ConflictError(
                f"Batch evaluation {job_id} is {job.status}; only finished jobs with errors can retry."
            )
        markers = list(self._ledger.markers(owner, job_id))
        failed = {m.session_id: m for m in markers if m.outcome == "FAILED"}
        claimed = {m.session_id for m in markers}
        manifest = self._payloads.read(job_prefix(owner, job_id) + MANIFEST_OBJECT) or b""
        unscored = [
            ref
            for line in manifest.splitlines()
            if line.strip()
            if (ref := SessionRef.from_json(msgspec.json.decode(line))).session_id not in claimed
        ]
        refs = [SessionRef.from_json(m.ref) for m in failed.values()] + unscored
        if not refs:
            raise ConflictError(f"Batch evaluation {job_id} has no failed sessions to retry.")
        completed = self._drop_failed_results(job, failed)
        self._ledger.release(owner, job_id, list(failed))
        body = manifest_body(refs)
        name = f"retry-{hashlib.sha256(body).hexdigest()[:16]}.jsonl"
        key = self._payloads.put_job_object(
            owner=owner,
            job_id=job_id,
            job_arn=job.arn,
            kms_key_arn=job.spec.kms_key_arn,
            name=name,
            body=body,
            content_type="application/jsonl",
        )
        progress = job.progress or RunProgress(total=len(refs) + completed)
        pending = self._store.prepare_retry(
            job,
            manifest_key=key,
            progress=RunProgress(total=progress.total, ignored=progress.ignored, completed=completed),
            now=self._clock(),
        )
        return self._hand_to_pipeline(pending)

    def _drop_failed_results(self, job: Job, failed: Mapping[str, SessionMarker]) -> int:
        """Rewrite every committed batch holding failed sessions without them; returns completed sessions."""
        assert self._ledger is not None
        parts = {marker.part for marker in failed.values()}
        completed = 0
        for commit in self._ledger.commits(job.owner, job.job_id):
            completed += commit.completed
            if commit.part not in parts or commit.results_key is None:
                continue
            lines = (self._payloads.read(commit.results_key) or b"").splitlines()
            kept = [line for line in lines if line.strip() and _session_of(line) not in failed]
            partial = BatchPartial()
            for line in kept:
                partial.add(msgspec.json.decode(line))
            common = {
                "owner": job.owner,
                "job_id": job.job_id,
                "job_arn": job.arn,
                "kms_key_arn": job.spec.kms_key_arn,
            }
            self._payloads.put_job_object(
                **common,
                name=f"results/{commit.part}.jsonl",
                body=b"".join(line + b"\n" for line in kept),
                content_type="application/jsonl",
            )
            self._payloads.put_job_object(
                **common,
                name=f"partials/{commit.part}.json",
                body=partial.to_bytes(),
                content_type="application/json",
            )
            self._ledger.commit(job.owner, job.job_id, replace(commit, failed=0))
        return completed

    def purge(self, owner: str, job_id: str) -> None:
        """Remove every stored object and run record of a job (idempotent; raises if any survive)."""
        self._payloads.delete_job_objects(owner, job_id)
        if self._ledger is not None:
            self._ledger.purge(owner, job_id)
