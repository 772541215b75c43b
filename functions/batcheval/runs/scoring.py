"""Score one batch of sessions of a running job: the work of one score-batch invocation.

The invocation first announces the sessions it may claim (an OPEN batch in the ledger). Per session,
in order: evaluate → claim it with one conditional write that also records its result lines (a
verdict recorded is never paid for again; a duplicate or retried batch that loses the claim skips
the session). After the loop the batch commits what it owns: the JSONL results export object, its
partial summary, the log records and EMF metrics, the ledger's COMMITTED batch item, and one ADD to
the job's live counters.

A batch that dies between its claims and its commit stays OPEN; Aggregate commits its claimed
sessions from their markers (`runs.lifecycle`), so nothing is lost and nothing counted twice.
Between sessions the job's status is re-read now and then (cooperative Stop), and no new session is
started when the Lambda's remaining time could not cover it: those are handed back in `remaining`.

Judge calls carry the invocation's deadline (its end minus `safety_ms`, via `DeadlineJudge`): a call
that cannot get capacity or a retry before it fails at once with `JudgeDeadlineExceeded`. Such a
session is not claimed but handed back with the rest (its other verdicts are paid again when it is
rescored) -- unless it is the invocation's first session, which is then recorded with that per-result
error, so every invocation makes progress and a judge that never frees capacity cannot loop a batch.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from batcheval.errors import DomainError
from batcheval.evaluators.base import Evaluator
from batcheval.evaluators.factory import EvaluatorFactory
from batcheval.evaluators.runner import run_evaluations
from batcheval.jobs.ledger import BatchCommit, Outcome, SessionMarker
from batcheval.jobs.records import Job
from batcheval.judges.base import DEADLINE_EXCEEDED
from batcheval.results.records import ErrorCodes, EvaluationResult, SpanContext, custom_arn
from batcheval.runs.context import JobPlan, RunServices, job_key, load_plan, output_target, results_prefix
from batcheval.runs.output import write_results
from batcheval.runs.summary import BatchPartial
from batcheval.traces.discovery import SessionRef
from batcheval.traces.model import Session

logger = logging.getLogger(__name__)

EVALUATOR_NOT_FOUND = "ResourceNotFoundException"
INLINE_RECORDS_MAX = 64_000
"""Result lines kept in the session's marker item (compressed: a few KB); larger ones go to S3."""
SPANS_NOT_FOUND_MESSAGE = (
    "Provided input has no spans to evaluate: the session's spans were not found in the log groups "
    "(they may have expired)."
)


@dataclass(frozen=True)
class ScoringSettings:
    safety_ms: int = 20_000
    """Time kept free at the end of an invocation for the batch's commit."""
    stop_check_seconds: float = 2.0
    """How often the job's status is re-read between sessions (cooperative Stop)."""
    max_workers: int = 8


@dataclass
class BatchOutcome:
    scored: int = 0
    failed: int = 0
    remaining: list[SessionRef] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "scored": self.scored,
            "failed": self.failed,
            "remaining": [r.to_json() for r in self.remaining],
        }


def session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()[:40]


def lines_of(records: Sequence[dict[str, Any]]) -> bytes:
    """JSON Lines, one record a line (in one call: faster than encoding line by line)."""
    return msgspec.json.Encoder().encode_lines(records)


def result_line(result: EvaluationResult, scenario: str | None) -> dict[str, Any]:
    """One line of the JSONL export: `to_record()` plus the session's testScenarioId when known."""
    record = result.to_record()
    if scenario is not None:
        record["testScenarioId"] = scenario
    return record


def hit_judge_deadline(records: Sequence[dict[str, Any]]) -> bool:
    """True when a judge call gave up at the invocation's deadline (no capacity or retry before it)."""
    return any(record.get("errorCode") == DEADLINE_EXCEEDED for record in records)


def outcome_of(records: Sequence[dict[str, Any]]) -> Outcome:
    return "FAILED" if any("errorCode" in record for record in records) else "COMPLETED"


class BatchScorer:
    def __init__(
        self,
        services: RunServices,
        settings: ScoringSettings,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
        region: str = "us-east-1",
    ) -> None:
        self._s = services
        self._settings = settings
        self._clock_ns = clock_ns
        self._monotonic = monotonic
        self._region = region

    def score(
        self,
        owner: str,
        job_id: str,
        refs: Sequence[SessionRef],
        *,
        part: str,
        remaining_ms: Callable[[], int],
    ) -> BatchOutcome:
        """Score `refs` for the job; `part` is unique per invocation (the Lambda request id)."""
        outcome = BatchOutcome()
        job = self._s.store.get(owner, job_id)
        if job is None or job.status != "IN_PROGRESS":
            return outcome  # stopped, failed or deleted meanwhile: nothing more to score
        plan = load_plan(self._s.payloads, job)
        done = self._s.ledger.done_sessions(owner, job_id, [r.session_id for r in refs])
        todo = [ref for ref in refs if ref.session_id not in done]
        if not todo:
            return outcome
        clients = self._s.owners.clients_for(owner)
        judge_deadline = self._clock_ns() / 1e9 + (remaining_ms() - self._settings.safety_ms) / 1000
        evaluators, broken = self._build(self._s.factory_for(owner, judge_deadline), plan, owner)
        assembly = self._s.source_for(clients).load(todo)
        sessions = {s.session_id: s for s in assembly.sessions}
        self._s.ledger.open_batch(owner, job_id, part, [ref.session_id for ref in todo])

        owned: list[list[dict[str, Any]]] = []
        last_check = self._monotonic()
        longest_ms = 0.0
        for index, ref in enumerate(todo):
            if remaining_ms() < self._settings.safety_ms + longest_ms:
                outcome.remaining = list(todo[index:])
                break
            if self._monotonic() - last_check >= self._settings.stop_check_seconds:
                last_check = self._monotonic()
                current = self._s.store.get(owner, job_id)
                if current is None or current.status != "IN_PROGRESS":
                    break  # Stop or Delete: keep what is done, start nothing new
            started = self._monotonic()
            records = self._evaluate(ref, sessions.get(ref.session_id), evaluators, broken, plan, owner)
            if index > 0 and hit_judge_deadline(records):
                outcome.remaining = list(todo[index:])  # unclaimed: the next invocation scores it
                break
            if self._s.ledger.claim(owner, job_id, self._marker(job, ref, part, records)):
                owned.append(records)
            longest_ms = max(longest_ms, (self._monotonic() - started) * 1000)

        commit_batch(self._s, job, plan, part, owned_records=owned, time_ns=self._clock_ns())
        for records in owned:
            if outcome_of(records) == "FAILED":
                outcome.failed += 1
            else:
                outcome.scored += 1
        return outcome

    def _marker(self, job: Job, ref: SessionRef, part: str, records: list[dict[str, Any]]) -> SessionMarker:
        """The claim of a scored session, carrying its records (spilled to S3 when too large)."""
        body = lines_of(records)
        marker = SessionMarker(ref.session_id, part, outcome_of(records), ref.to_json(), records=body)
        if len(body) <= INLINE_RECORDS_MAX:
            return marker
        key = self._s.payloads.put_job_object(
            owner=job.owner,
            job_id=job.job_id,
            job_arn=job.arn,
            kms_key_arn=job_key(job),
            name=f"staging/{session_key(ref.session_id)}.jsonl",
            body=body,
            content_type="application/jsonl",
        )
        return SessionMarker(ref.session_id, part, marker.outcome, marker.ref, spill_key=key)

    def _build(
        self, factory: EvaluatorFactory, plan: JobPlan, owner: str
    ) -> tuple[list[Evaluator], dict[str, str]]:
        """Evaluators that can run, and (id → message) for those that cannot (e.g. deleted since Start)."""
        evaluators: list[Evaluator] = []
        broken: dict[str, str] = {}
        for evaluator_id in plan.evaluator_ids:
            try:
                evaluators.append(factory.build(evaluator_id))
            except (DomainError, ClientError) as error:
                logger.warning("evaluator unavailable", extra={"evaluatorId": evaluator_id})
                message = (
                    error.message if isinstance(error, DomainError) else "The evaluator could not be loaded."
                )
                broken[evaluator_id] = f"Evaluator {evaluator_id} is not available: {message}"
        return evaluators, broken

    def _evaluate(
        self,
        ref: SessionRef,
        session: Session | None,
        evaluators: list[Evaluator],
        broken: dict[str, str],
        plan: JobPlan,
        owner: str,
    ) -> list[dict[str, Any]]:
        scenario = plan.scenario_of.get(ref.session_id)
        results: list[EvaluationResult] = []
        if session is None:
            results.extend(
                self._error(
                    ref.session_id,
                    evaluator.identity.evaluator_id,
                    evaluator.identity.evaluator_name,
                    evaluator.identity.evaluator_arn,
                    ErrorCodes.NO_SPANS,
                    SPANS_NOT_FOUND_MESSAGE,
                )
                for evaluator in evaluators
            )
        else:
            results.extend(
                run_evaluations(
                    [session],
                    evaluators,
                    ground_truth=plan.ground_truth,
                    max_workers=self._settings.max_workers,
                )
            )
        for evaluator_id, message in broken.items():
            arn = custom_arn(evaluator_id, region=self._region, account_id=owner)
            results.append(
                self._error(ref.session_id, evaluator_id, evaluator_id, arn, EVALUATOR_NOT_FOUND, message)
            )
        return [result_line(result, scenario) for result in results]

    @staticmethod
    def _error(
        session_id: str, evaluator_id: str, name: str, arn: str, code: str, message: str
    ) -> EvaluationResult:
        return EvaluationResult(
            evaluator_id=evaluator_id,
            evaluator_name=name,
            evaluator_arn=arn,
            context=SpanContext(session_id),
            level="SESSION",
            error_code=code,
            error_message=message,
        )


def commit_batch(
    services: RunServices,
    job: Job,
    plan: JobPlan,
    part: str,
    *,
    owned_records: Sequence[Sequence[dict[str, Any]]],
    time_ns: int,
) -> BatchCommit:
    """Publish what a batch owns: export object, partial, log output, ledger entry, live counters.

    Idempotent per `part` (same keys, same item), so Aggregate can redo it for an orphaned batch.
    """
    owner, job_id = job.owner, job.job_id
    if not owned_records:  # a duplicate or a stopped batch: nothing owned, nothing to publish
        commit = BatchCommit(part, 0, 0, None, None)
        services.ledger.commit(owner, job_id, commit)
        return commit
    partial = BatchPartial()
    results: list[EvaluationResult] = []
    for records in owned_records:
        for record in records:
            partial.add(record)
            results.append(EvaluationResult.from_record(record))
    common = {"owner": owner, "job_id": job_id, "job_arn": job.arn, "kms_key_arn": job_key(job)}
    results_key = services.payloads.put_job_object(
        **common,
        name=f"results/{part}.jsonl",
        body=lines_of([r for records in owned_records for r in records]),
        content_type="application/jsonl",
    )
    partial_key = services.payloads.put_job_object(
        **common, name=f"partials/{part}.json", body=partial.to_bytes(), content_type="application/json"
    )
    target = output_target(job, plan)
    if target is not None:
        write_results(services.log_writer_for(owner), results, target, time_ns=time_ns)
    failed = sum(1 for records in owned_records if outcome_of(records) == "FAILED")
    commit = BatchCommit(part, len(owned_records) - failed, failed, results_key, partial_key)
    services.ledger.commit(owner, job_id, commit)
    services.store.add_progress(
        owner,
        job_id,
        completed=commit.completed,
        failed=commit.failed,
        results_export=services.payloads.uri(results_prefix(owner, job_id)),
    )
    return commit
