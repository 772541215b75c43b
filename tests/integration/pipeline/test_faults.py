"""Injected faults: nothing lost, nothing counted or written twice; per-session errors, the job goes on."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from batcheval.errors import JudgeError
from batcheval.jobs.ledger import RunLedger
from batcheval.judges.base import DEADLINE_EXCEEDED
from batcheval.judges.settings import JudgeSettings
from tests.integration.pipeline.conftest import BUCKET, HELPFUL, FakeContext, Pipeline


def _session_ids(lines: list[dict[str, Any]]) -> Counter[str]:
    return Counter(line["context"]["spanContext"]["sessionId"] for line in lines)


def _result_identity(line: dict[str, Any]) -> tuple[Any, ...]:
    span = line["context"]["spanContext"]
    target = (span["sessionId"], span.get("traceId"), span.get("spanId"))
    return (line["evaluatorId"], target, line.get("evaluationDimensionName"))


def test_duplicated_batch_neither_counts_nor_pays_twice(pipeline: Pipeline):
    # Given a discovered job and one batch scored
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))
    first = pipeline.score(job, items[:5])
    calls = pipeline.judge.calls

    # When the same batch is delivered again (Express at-least-once, a redrive)
    again = pipeline.score(job, items[:5])

    # Then it scores nothing new and the judge is not called again
    assert (again["scored"], again["failed"], again["remaining"]) == (0, 0, [])
    assert pipeline.judge.calls == calls
    assert first["scored"] + first["failed"] == 5
    # And after the rest, every result exists exactly once
    pipeline.score(job, items[5:])
    assert pipeline.aggregate(job)["status"] == "COMPLETED"
    lines = pipeline.export_lines(job)
    assert len({_result_identity(line) for line in lines}) == len(lines)
    assert pipeline.get(job).evaluation_results["numberOfSessionsCompleted"] == 10  # type: ignore[index]


def test_crashing_batch_is_retried_without_loss_or_paying_twice(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
):
    # Given a batch whose invocation dies right after recording its third session
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))
    original = RunLedger.claim
    claims = {"n": 0}

    def die_after_third(self: RunLedger, owner: str, job_id: str, marker: Any) -> bool:
        won = original(self, owner, job_id, marker)
        claims["n"] += 1
        if claims["n"] == 3:
            raise ConnectionError("the Lambda died")
        return won

    monkeypatch.setattr(RunLedger, "claim", die_after_third)
    with pytest.raises(ConnectionError):
        pipeline.score(job, items[:5])
    judged_before = {request.metadata["sessionId"] for request in pipeline.judge.requests}
    calls_before_retry = pipeline.judge.calls
    monkeypatch.setattr(RunLedger, "claim", original)

    # When Step Functions retries the same batch
    pipeline.score(job, items[:5])

    # Then only the two sessions never recorded are judged now
    judged_on_retry = {
        request.metadata["sessionId"] for request in pipeline.judge.requests[calls_before_retry:]
    }
    assert judged_before == {item["sessionId"] for item in items[:3]}
    assert judged_on_retry == {item["sessionId"] for item in items[3:5]}
    # And after the rest, Aggregate commits the dead batch's three: all 10 counted and exported once
    pipeline.score(job, items[5:])
    assert pipeline.aggregate(job)["status"] == "COMPLETED"
    results = pipeline.get(job).evaluation_results or {}
    assert results["numberOfSessionsCompleted"] + results["numberOfSessionsFailed"] == 10
    lines = pipeline.export_lines(job)
    assert len({_result_identity(line) for line in lines}) == len(lines)
    assert set(_session_ids(lines)) == set(pipeline.sample.session_ids)


def test_batch_dying_after_its_claims_is_committed_by_aggregate(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
):
    # Given a batch that claimed its sessions and died before its commit, retries exhausted
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))

    def die(self: RunLedger, owner: str, job_id: str, commit: Any) -> None:
        raise ConnectionError("the Lambda died")

    monkeypatch.setattr(RunLedger, "commit", die)
    with pytest.raises(ConnectionError):
        pipeline.score(job, items[:4])
    monkeypatch.undo()
    pipeline.score(job, items[4:])

    # When aggregating
    assert pipeline.aggregate(job)["status"] == "COMPLETED"

    # Then the orphaned sessions are counted and exported exactly once
    results = pipeline.get(job).evaluation_results or {}
    assert results["numberOfSessionsCompleted"] == 10
    lines = pipeline.export_lines(job)
    assert set(_session_ids(lines)) == set(pipeline.sample.session_ids)
    assert len({_result_identity(line) for line in lines}) == len(lines)


def test_batch_reaching_its_deadline_hands_back_the_rest_and_keeps_what_it_made(pipeline: Pipeline):
    # Given an invocation with time for two sessions only
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))
    budget = iter([600_000] * 3)  # one read sets the judges' deadline, then one before each session
    context = FakeContext(remaining=lambda: next(budget, 0))

    # When it scores a batch of five
    out = pipeline.score(job, items[:5], context)

    # Then two are scored (and counted live), three come back in `remaining`
    assert out["scored"] + out["failed"] == 2
    assert [r["sessionId"] for r in out["remaining"]] == [r["sessionId"] for r in items[2:5]]
    assert (
        pipeline.progress(job)["numberOfSessionsCompleted"] + pipeline.progress(job)["numberOfSessionsFailed"]
        == 2
    )
    # And looping on the remaining items (as the state machine does) finishes the job exactly
    pipeline.score(job, out["remaining"])
    pipeline.score(job, items[5:])
    assert pipeline.aggregate(job)["status"] == "COMPLETED"
    assert (pipeline.get(job).evaluation_results or {})["numberOfSessionsCompleted"] == 10


def test_throttled_judge_gives_per_session_errors_and_the_job_goes_on(pipeline: Pipeline):
    # Given a judge that is throttled on every call
    pipeline.judge_answers(JudgeError("ThrottlingException", "Rate exceeded", retryable=True))
    job = pipeline.start()

    # When the job runs
    pipeline.run(job)

    # Then it completes with errors: every session failed on the judge, the code evaluator scored
    done = pipeline.get(job)
    assert done.status == "COMPLETED_WITH_ERRORS"
    results = done.evaluation_results or {}
    assert (results["numberOfSessionsCompleted"], results["numberOfSessionsFailed"]) == (0, 10)
    summaries = {s["evaluatorId"]: s for s in results["evaluatorSummaries"]}
    assert summaries["Builtin.Helpfulness"]["totalEvaluated"] == 0
    assert summaries["Builtin.Helpfulness"]["extendedStatistics"]["errorCodes"] == {
        "ThrottlingException": summaries["Builtin.Helpfulness"]["totalFailed"]
    }
    assert summaries["ThirdParty.Batcheval.ToolErrorRate"]["totalFailed"] == 0


def test_malformed_and_vanished_sessions_are_per_session_errors(pipeline: Pipeline):
    # Given a batch with one real session and one whose spans are gone
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))
    ghost = {**items[0], "sessionId": "ghost-session"}

    # When it is scored
    out = pipeline.score(job, [items[0], ghost])

    # Then the ghost has one NoSpansToEvaluate result per evaluator and counts as failed
    assert (out["scored"], out["failed"]) == (1, 1)
    ghost_lines = [
        line
        for line in pipeline.export_lines(job)
        if line["context"]["spanContext"]["sessionId"] == "ghost-session"
    ]
    assert {line["errorCode"] for line in ghost_lines} == {"NoSpansToEvaluate"}
    assert len(ghost_lines) == 2


def test_custom_evaluator_missing_at_run_time_is_a_per_session_error(pipeline: Pipeline):
    # Given a job naming a custom evaluator that no longer exists
    job = pipeline.start(
        evaluators=[
            {"evaluatorId": "ThirdParty.Batcheval.ToolErrorRate"},
            {"evaluatorId": "gone_eval-AbCdEfGhIj"},
        ]
    )

    # When it runs
    pipeline.run(job)

    # Then every session has that evaluator's error, the other evaluator scored, the job went on
    done = pipeline.get(job)
    assert done.status == "COMPLETED_WITH_ERRORS"
    summaries = {s["evaluatorId"]: s for s in (done.evaluation_results or {})["evaluatorSummaries"]}
    assert summaries["gone_eval-AbCdEfGhIj"]["totalFailed"] == 10
    assert summaries["gone_eval-AbCdEfGhIj"]["extendedStatistics"]["errorCodes"] == {
        "ResourceNotFoundException": 10
    }
    assert summaries["ThirdParty.Batcheval.ToolErrorRate"]["totalFailed"] == 0


def test_no_sessions_found_fails_the_job_in_the_services_words(pipeline: Pipeline):
    # Given a job whose time range holds no spans
    start_s, _ = pipeline.window
    body = pipeline.request()
    body["dataSourceConfig"]["cloudWatchLogs"]["filterConfig"]["timeRange"] = {
        "startTime": start_s - 7200,
        "endTime": start_s - 3600,
    }
    job = pipeline.service.start("123456789012", body).job

    # When discovery runs
    discovered = pipeline.discover(job)

    # Then the run ends quietly and the job is FAILED with a short, plain reason
    assert (discovered["proceed"], discovered["manifest"]) == (False, None)
    failed = pipeline.get(job)
    assert failed.status == "FAILED"
    assert failed.error_details[0].startswith("No sessions were found for service TravelAgent.DEFAULT")
    assert len(failed.error_details[0]) <= 1000
    assert pipeline.finalize(job)["status"] == "FAILED"


def test_objects_are_kms_encrypted_with_the_jobs_key(pipeline: Pipeline):
    # Given a finished job
    job = pipeline.start()
    pipeline.run(job)
    # Then every stored object is SSE-KMS with the job's key
    s3 = pipeline.clients.client("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"jobs/{job.owner}/{job.job_id}/")["Contents"]
    ]
    assert any("/results/" in key for key in keys)
    for key in keys:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == job.spec.kms_key_arn


def _judge_until_capacity_runs_out(pipeline: Pipeline, free_sessions: int) -> list[float | None]:
    """A judge whose capacity is gone after the calls of `free_sessions` sessions: like the limiter,
    a later call waits until its request's deadline on a fake clock, then fails JudgeDeadlineExceeded."""
    deadlines: list[float | None] = []
    sessions: list[str] = []

    def answer(request: Any) -> Any:
        deadlines.append(request.deadline)
        if request.metadata["sessionId"] not in sessions:
            sessions.append(request.metadata["sessionId"])
        if len(sessions) > free_sessions:
            return JudgeError(DEADLINE_EXCEEDED, "no judge capacity before the caller's deadline")
        return HELPFUL

    pipeline.judge_answers(answer)
    return deadlines


def test_judge_call_at_the_batch_deadline_hands_the_session_back_unclaimed(pipeline: Pipeline):
    # Given a judge with capacity for two calls, then none before the batch's deadline
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))
    deadlines = _judge_until_capacity_runs_out(pipeline, free_sessions=2)

    # When a batch of five is scored with 600 s left (safety margin 1 s)
    before = time.time()
    out = pipeline.score(job, items[:5], FakeContext(remaining=lambda: 600_000))
    after = time.time()

    # Then every judge call carried the invocation's end minus the safety margin and one call's
    # timeout as its deadline (an attempt started before it ends before the Lambda does)
    timeout_s = JudgeSettings().timeout_s
    assert all(d is not None and before + 599 - timeout_s <= d <= after + 599 - timeout_s for d in deadlines)
    # And the two judged sessions are kept; the one that hit the deadline and the rest come back
    assert (out["scored"], out["failed"]) == (2, 0)
    assert [r["sessionId"] for r in out["remaining"]] == [r["sessionId"] for r in items[2:5]]
    # And the handed-back session is not recorded: no result line, no claim
    assert set(_session_ids(pipeline.export_lines(job))) == {r["sessionId"] for r in items[:2]}
    ledger = RunLedger(pipeline.clients.client("dynamodb"), "batcheval-jobs")
    assert ledger.done_sessions(job.owner, job.job_id, [items[2]["sessionId"]]) == set()

    # When capacity is back and the machine loops on `remaining`, then the rest of the job
    pipeline.judge_answers(HELPFUL)
    assert pipeline.score(job, out["remaining"])["remaining"] == []
    pipeline.score(job, items[5:])

    # Then it completes with every session scored exactly once, none failed on the deadline
    assert pipeline.aggregate(job)["status"] == "COMPLETED"
    lines = pipeline.export_lines(job)
    assert set(_session_ids(lines)) == {r["sessionId"] for r in items}
    assert set(Counter(_result_identity(line) for line in lines).values()) == {1}
    assert not any(line.get("errorCode") for line in lines)
    assert (pipeline.get(job).evaluation_results or {})["numberOfSessionsCompleted"] == 10


def test_judge_deadline_on_an_invocations_first_session_is_a_per_result_error(pipeline: Pipeline):
    # Given a judge that never has capacity before the batch's deadline
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))
    _judge_until_capacity_runs_out(pipeline, free_sessions=0)

    # When a batch is scored
    out = pipeline.score(job, items[:3])

    # Then its first session is recorded with the per-result error (the batch makes progress) and the
    # others are handed back, so looping on `remaining` ends
    assert (out["scored"], out["failed"]) == (0, 1)
    assert [r["sessionId"] for r in out["remaining"]] == [r["sessionId"] for r in items[1:3]]
    codes = {
        line.get("errorCode")
        for line in pipeline.export_lines(job)
        if line["evaluatorId"] == "Builtin.Helpfulness"
    }
    assert codes == {DEADLINE_EXCEEDED}
