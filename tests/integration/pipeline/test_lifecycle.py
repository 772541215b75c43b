"""Stop, Delete, failures outside the machine's catch, console runs and crash-safe starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from batcheval.errors import CallerRoleError, ConflictError, JudgeError
from batcheval.jobs.identifiers import execution_name
from batcheval.jobs.starter import StepFunctionsStarter
from batcheval.pipeline.handlers import aggregate, discover, finalize, score_batch
from batcheval.runs.context import SameAccountClients
from batcheval.runs.lifecycle import INTERNAL_FAILURE, TIMED_OUT
from tests.integration.pipeline.conftest import (
    BUCKET,
    HELPFUL,
    OWNER,
    REGION,
    RUNTIME_GROUP,
    SERVICE,
    FakeContext,
    Pipeline,
)

DEFINITION = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}})


@pytest.fixture
def machine(pipeline: Pipeline) -> str:
    sfn = pipeline.clients.client("stepfunctions")
    role = f"arn:aws:iam::{OWNER}:role/batcheval-pipeline"
    return sfn.create_state_machine(name="batcheval", definition=DEFINITION, roleArn=role)["stateMachineArn"]


def _objects(pipeline: Pipeline, prefix: str) -> list[str]:
    listing = pipeline.clients.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [entry["Key"] for entry in listing.get("Contents", [])]


def test_stop_mid_run_keeps_and_aggregates_what_was_scored(pipeline: Pipeline):
    # Given a running job with one batch scored
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))
    pipeline.score(job, items[:4])

    # When it is stopped, and a batch in flight sees the flag between sessions
    assert pipeline.service.stop(OWNER, job.job_id).status == "STOPPING"
    late = pipeline.score(job, items[4:])

    # Then the late batch starts nothing new, and the job ends STOPPED with the 4 sessions aggregated
    assert (late["scored"], late["failed"], late["remaining"]) == (0, 0, [])
    assert pipeline.finalize(job, {"Error": "ABORTED", "Cause": None})["status"] == "STOPPED"
    stopped = pipeline.get(job)
    assert stopped.status == "STOPPED"
    results = stopped.evaluation_results or {}
    assert results["numberOfSessionsCompleted"] + results["numberOfSessionsFailed"] == 4
    assert results["numberOfSessionsInProgress"] == 0
    assert {s["evaluatorId"] for s in results["evaluatorSummaries"]} == {
        "ThirdParty.Batcheval.ToolErrorRate",
        "Builtin.Helpfulness",
    }


def test_stop_is_seen_between_sessions_of_a_batch(pipeline: Pipeline):
    # Given a running job whose Stop arrives while the first session of a batch is judged
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))
    stopped = {"done": False}

    def stop_then_answer(request: Any) -> dict[str, str]:
        if not stopped["done"]:
            stopped["done"] = True
            pipeline.service.stop(OWNER, job.job_id)
        return {"explanation": "ok", "label": "Very Helpful"}

    pipeline.judge_answers(stop_then_answer)

    # When the batch runs
    out = pipeline.score(job, items[:5])

    # Then the session under way is kept and no further session is started
    assert out["scored"] + out["failed"] == 1
    assert out["remaining"] == []
    assert pipeline.aggregate(job)["status"] == "STOPPED"


def test_delete_mid_run_removes_everything_and_late_writes_are_purged(pipeline: Pipeline):
    # Given a running job with results stored
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))
    pipeline.score(job, items[:4])
    prefix = f"jobs/{OWNER}/{job.job_id}/"
    assert _objects(pipeline, prefix)

    # When it is deleted mid-run
    assert pipeline.service.delete(OWNER, job.job_id).status == "DELETING"

    # Then the job, its objects and its run records are gone, and a late batch writes nothing
    assert pipeline.runtime.services.store.get(OWNER, job.job_id) is None
    assert _objects(pipeline, prefix) == []
    assert pipeline.runtime.services.ledger.batches(OWNER, job.job_id) == ([], [])
    assert pipeline.score(job, items[4:]) == {"scored": 0, "failed": 0, "remaining": []}
    # And an object a step wrote after the Delete is removed when the run ends
    pipeline.clients.client("s3").put_object(Bucket=BUCKET, Key=prefix + "results/late.jsonl", Body=b"{}\n")
    assert pipeline.finalize(job, {"Error": "ABORTED"})["status"] is None
    assert _objects(pipeline, prefix) == []


def test_delete_reports_objects_it_could_not_remove_and_the_next_delete_finishes(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
):
    # Given a finished job, and S3 refusing to delete one of its objects
    job = pipeline.start()
    pipeline.run(job)
    s3 = pipeline.clients.client("s3")
    real: Any = s3.delete_objects

    def refuse_one(**kwargs: Any) -> dict[str, Any]:
        victim = kwargs["Delete"]["Objects"][0]["Key"]
        rest = [o for o in kwargs["Delete"]["Objects"] if o["Key"] != victim]
        response = real(**{**kwargs, "Delete": {**kwargs["Delete"], "Objects": rest}}) if rest else {}
        return {**response, "Errors": [{"Key": victim, "Code": "InternalError", "Message": "try again"}]}

    monkeypatch.setattr(s3, "delete_objects", refuse_one)
    monkeypatch.setattr("batcheval.jobs.payloads.time.sleep", lambda _s: None)

    # When deleting, Then the Delete fails, the job stays DELETING, one object is left
    with pytest.raises(Exception, match="could not be deleted"):
        pipeline.service.delete(OWNER, job.job_id)
    assert pipeline.get(job).status == "DELETING"
    assert len(_objects(pipeline, f"jobs/{OWNER}/{job.job_id}/")) == 1

    # When S3 recovers and Delete is called again, Then it finishes
    monkeypatch.setattr(s3, "delete_objects", real)
    pipeline.service.delete(OWNER, job.job_id)
    assert pipeline.runtime.services.store.get(OWNER, job.job_id) is None
    assert _objects(pipeline, f"jobs/{OWNER}/{job.job_id}/") == []


def test_a_failed_step_fails_the_job_with_the_services_words_only(pipeline: Pipeline):
    # Given a running job with some results
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))
    pipeline.score(job, items[:3])
    cause = msgspec.json.encode(
        {"errorMessage": "KeyError: 'x'", "errorType": "KeyError", "stackTrace": ['  File "handler.py"']}
    ).decode()

    # When the machine's catch hands an internal error to Finalize
    assert pipeline.finalize(job, {"Error": "States.TaskFailed", "Cause": cause})["status"] == "FAILED"

    # Then the job is FAILED with a generic sentence (no trace, no internal names), partial results kept
    failed = pipeline.get(job)
    assert failed.error_details == [INTERNAL_FAILURE]
    assert (failed.evaluation_results or {})["numberOfSessionsCompleted"] == 3


def test_a_domain_errors_message_becomes_error_details(pipeline: Pipeline):
    job = pipeline.start()
    pipeline.discover(job)
    message = "Spans could not be read from CloudWatch Logs: the query timed out."
    cause = msgspec.json.encode({"errorMessage": message, "errorType": "SpanQueryError"}).decode()
    pipeline.finalize(job, {"Error": "SpanQueryError", "Cause": cause})
    assert pipeline.get(job).error_details == [message]


def test_execution_status_change_event_finalizes_a_timed_out_run(pipeline: Pipeline):
    # Given a running job whose execution timed out (outside the machine's own catch)
    job = pipeline.start()
    pipeline.discover(job)
    event = {
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {
            "executionArn": pipeline.execution(job),
            "status": "TIMED_OUT",
            "input": msgspec.json.encode({"owner": OWNER, "batchEvaluationId": job.job_id}).decode(),
        },
    }

    # When EventBridge delivers the status change to Finalize
    out = finalize.lambda_handler(event, FakeContext())

    # Then the job is FAILED saying it timed out; a second delivery changes nothing
    assert out["status"] == "FAILED"
    assert pipeline.get(job).error_details == [TIMED_OUT]
    assert finalize.lambda_handler(event, FakeContext())["status"] == "FAILED"


def test_console_execution_creates_and_runs_a_job_in_the_services_account(pipeline: Pipeline):
    # Given a full StartBatchEvaluation request as a console "Start execution" input
    execution = f"arn:aws:states:{REGION}:{OWNER}:execution:batcheval:console-1"
    request = {
        "batchEvaluationName": "console_run",
        "dataSourceConfig": {"cloudWatchLogs": {"serviceNames": [SERVICE], "logGroupNames": [RUNTIME_GROUP]}},
        "evaluators": [{"evaluatorId": "ThirdParty.Batcheval.ToolErrorRate"}],
        "executionArn": execution,
    }

    # When Discover runs (twice: a retried step)
    first = discover.lambda_handler(dict(request), FakeContext())
    again = discover.lambda_handler(dict(request), FakeContext())

    # Then one job exists in the service's account, bound to this execution, with its sessions found
    assert first["owner"] == OWNER
    assert first["batchEvaluationId"] == again["batchEvaluationId"]
    assert first["proceed"] is True
    assert again["proceed"] is True
    job = pipeline.runtime.services.store.require(OWNER, first["batchEvaluationId"])
    assert (job.status, job.run_id, job.name) == ("IN_PROGRESS", execution, "console_run")
    assert first["totalSessions"] == 10
    assert len(pipeline.service.list_jobs(OWNER, max_results=10, next_token=None).jobs) == 1


def test_step_functions_starter_names_the_run_by_the_job_and_a_second_start_is_harmless(
    pipeline: Pipeline, machine: str
):
    # Given a job and the Step Functions starter
    job = pipeline.start()
    starter = StepFunctionsStarter(pipeline.clients.client("stepfunctions"), machine)

    # When the run is started twice
    first = starter.start(job)
    second = starter.start(job)

    # Then both name the same execution, named by the job, with the job's reference as input
    assert first == second == starter.execution_arn(job)
    assert first.endswith(":" + execution_name(OWNER, job.job_id))
    sfn = pipeline.clients.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 1
    described = sfn.describe_execution(executionArn=first)
    assert msgspec.json.decode(described["input"]) == {"owner": OWNER, "batchEvaluationId": job.job_id}
    # And Stop stops that execution
    starter.stop(job)
    assert sfn.describe_execution(executionArn=first)["status"] == "ABORTED"


def test_execution_names_are_short_safe_and_distinct_per_owner():
    name = execution_name("111111111111", "a" * 100 + "-AbCdEfGhIj")
    assert len(name) <= 80
    assert name.replace("-", "").replace("_", "").isalnum()
    assert execution_name("111111111111", "j-1") != execution_name("222222222222", "j-1")
    assert execution_name("111111111111", "j-1") == execution_name("111111111111", "j-1")


# ---- crash points of Start ------------------------------------------------------------------------
def _service_with(pipeline: Pipeline, machine: str):
    return pipeline.runtime.job_service(
        StepFunctionsStarter(pipeline.clients.client("stepfunctions"), machine)
    )


def test_crash_after_create_a_retried_start_starts_the_run(pipeline: Pipeline, machine: str):
    # Given a Start that crashed after writing the job, before StartExecution (job PENDING, no run)
    request = pipeline.request(clientToken="token-1")
    crashed = pipeline.service.start(OWNER, request).job  # NoOpStarter: nothing started
    assert (crashed.status, crashed.run_id) == ("PENDING", None)

    # When the caller retries with the same clientToken
    retried = _service_with(pipeline, machine).start(OWNER, request)

    # Then the same job is returned and its run started and recorded
    assert retried.job.job_id == crashed.job_id
    assert retried.job.run_id is not None
    assert pipeline.clients.client("stepfunctions").describe_execution(executionArn=retried.job.run_id)


def test_crash_after_create_the_sweep_starts_stranded_jobs(pipeline: Pipeline, machine: str):
    # Given a job stranded PENDING without a run (its Start crashed and the caller never retried)
    crashed = pipeline.service.start(OWNER, pipeline.request()).job

    # When the finalizer's sweep runs past the grace period
    resumed = _service_with(pipeline, machine).resume_stranded(OWNER, grace_seconds=0)

    # Then the job's run is started and recorded
    assert [job.job_id for job in resumed] == [crashed.job_id]
    assert pipeline.get(crashed).run_id is not None
    # And a job still within its grace period is left to its own Start
    fresh = pipeline.service.start(OWNER, pipeline.request("fresh")).job
    assert _service_with(pipeline, machine).resume_stranded(OWNER, grace_seconds=3600) == []
    assert pipeline.get(fresh).run_id is None


def test_crash_after_start_execution_a_stop_wins_and_the_run_ends_quietly(pipeline: Pipeline, machine: str):
    # Given a Start that started the run but crashed before recording it
    job = pipeline.service.start(OWNER, pipeline.request()).job
    run = StepFunctionsStarter(pipeline.clients.client("stepfunctions"), machine).start(job)
    assert run is not None

    # When the caller stops the job (no run recorded: straight to STOPPED)
    assert pipeline.service.stop(OWNER, job.job_id).status == "STOPPED"

    # Then the run's first step finds the job stopped and ends quietly without scoring
    out = pipeline.discover(job, run)
    assert (out["proceed"], out["manifest"]) == (False, None)
    assert pipeline.get(job).status == "STOPPED"


def test_crash_after_start_execution_the_run_claims_its_job(pipeline: Pipeline, machine: str):
    # Given a Start that started the run but crashed before recording it, and no Stop
    job = pipeline.service.start(OWNER, pipeline.request()).job
    run = StepFunctionsStarter(pipeline.clients.client("stepfunctions"), machine).start(job)
    assert run is not None

    # When the run's first step runs, Then it records itself and proceeds
    assert pipeline.discover(job, run)["proceed"] is True
    assert (pipeline.get(job).status, pipeline.get(job).run_id) == ("IN_PROGRESS", run)
    # And another run for the same job (a stale duplicate) does not get it
    assert pipeline.discover(job, run + "-other")["proceed"] is False


def test_crash_after_record_run_stop_stops_the_execution_and_the_job_ends_stopped(
    pipeline: Pipeline, machine: str
):
    # Given a job whose run was started and recorded (then the API process died)
    service = _service_with(pipeline, machine)
    job = service.start(OWNER, pipeline.request()).job
    assert job.run_id is not None

    # When it is stopped before the run's first step
    assert service.stop(OWNER, job.job_id).status == "STOPPING"

    # Then the execution is stopped, and a first step that still runs moves the job to STOPPED quietly
    sfn = pipeline.clients.client("stepfunctions")
    assert sfn.describe_execution(executionArn=job.run_id)["status"] == "ABORTED"
    assert pipeline.discover(job, job.run_id)["proceed"] is False
    assert pipeline.get(job).status == "STOPPED"


def test_pending_job_with_its_run_is_never_started_twice_by_the_sweep(pipeline: Pipeline, machine: str):
    service = _service_with(pipeline, machine)
    job = service.start(OWNER, pipeline.request()).job
    # Given a PENDING job whose run is recorded, When the sweep runs, Then it starts nothing
    assert service.resume_stranded(OWNER, grace_seconds=0) == []
    assert pipeline.get(job).run_id == job.run_id


def test_an_owner_whose_caller_role_refuses_gets_failed_with_what_to_deploy(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
):
    # Given a job of another account whose caller-access role is missing
    message = "Deploy the role batcheval-caller-access in account 210987654321 trusting 123456789012."

    def refuse(self: SameAccountClients, owner: str) -> Any:
        raise CallerRoleError(message)

    other = "210987654321"
    job = pipeline.service.start(other, pipeline.request()).job
    monkeypatch.setattr(SameAccountClients, "clients_for", refuse)

    # When its run begins, Then it ends quietly and the job is FAILED saying which role to deploy
    assert pipeline.discover(job)["proceed"] is False
    assert pipeline.get(job).error_details == [message]


def test_sample_events_run_on_an_empty_stack_and_end_quietly(pipeline: Pipeline):
    # Given the console "Test" events of every step, for a job that does not exist here
    events = Path(__file__).parents[3] / "events" / "pipeline"
    load = lambda name: msgspec.json.decode((events / name).read_bytes())  # noqa: E731
    # When each handler gets its event, Then it answers in its contract shape without touching anything
    assert discover.lambda_handler(load("discover.json"), FakeContext())["proceed"] is False
    assert score_batch.lambda_handler(load("score_batch.json"), FakeContext()) == {
        "scored": 0,
        "failed": 0,
        "remaining": [],
    }
    assert aggregate.lambda_handler(load("aggregate.json"), FakeContext())["status"] is None
    assert finalize.lambda_handler(load("finalize.json"), FakeContext())["status"] is None
    assert finalize.lambda_handler(load("finalize_status_change.json"), FakeContext())["status"] is None
    # And the console request creates a job in the service's account and runs its discovery
    console = discover.lambda_handler(load("discover_console_request.json"), FakeContext())
    assert (console["owner"], console["proceed"], console["totalSessions"]) == (OWNER, True, 10)


def test_retry_failed_sessions_rescores_only_those_into_the_same_result_set(pipeline: Pipeline, machine: str):
    # Given a job that finished with errors: the judge was down for the first batch only
    service = _service_with(pipeline, machine)
    job = service.start(OWNER, pipeline.request()).job
    items = pipeline.manifest_items(pipeline.discover(job, job.run_id))
    pipeline.judge_answers(JudgeError("JudgeUnavailable", "the model is down"))
    pipeline.score(job, items[:4])
    pipeline.judge_answers(HELPFUL)
    pipeline.score(job, items[4:])
    assert pipeline.aggregate(job)["status"] == "COMPLETED_WITH_ERRORS"
    calls = pipeline.judge.calls

    # When its failed sessions are retried, and the new run goes through the steps
    retried = service.retry_failed(OWNER, job.job_id)
    assert (retried.status, retried.run_id is not None) == ("PENDING", True)
    assert retried.run_id != job.run_id
    assert pipeline.progress(job)["numberOfSessionsInProgress"] == 4
    discovered = pipeline.discover(job, retried.run_id)
    retry_items = pipeline.manifest_items(discovered)
    pipeline.score(job, retry_items)

    # Then only the 4 failed sessions were judged again, and the job is COMPLETED with all 10
    assert sorted(r["sessionId"] for r in retry_items) == sorted(r["sessionId"] for r in items[:4])
    assert {r.metadata["sessionId"] for r in pipeline.judge.requests[calls:]} == {
        r["sessionId"] for r in items[:4]
    }
    assert pipeline.aggregate(job)["status"] == "COMPLETED"
    done = pipeline.get(job)
    assert (done.evaluation_results or {})["numberOfSessionsCompleted"] == 10
    assert done.error_details == []
    # And the result set holds each result once, none of the failed ones
    lines = pipeline.export_lines(job)
    identities = {(x["evaluatorId"], str(x["context"]), x.get("evaluationDimensionName")) for x in lines}
    assert len(identities) == len(lines)
    assert not any(line.get("errorCode") == "JudgeUnavailable" for line in lines)
    summaries = (done.evaluation_results or {})["evaluatorSummaries"]
    helpfulness = next(s for s in summaries if s["evaluatorId"] == "Builtin.Helpfulness")
    assert helpfulness["totalFailed"] == 0


def test_retry_of_a_clean_job_is_a_conflict(pipeline: Pipeline):
    job = pipeline.start()
    pipeline.run(job)
    with pytest.raises(ConflictError):
        pipeline.service.retry_failed(OWNER, job.job_id)


def test_a_run_that_records_itself_before_start_returns_is_not_stopped(pipeline: Pipeline, machine: str):
    # Given a starter whose run's first step runs (and records the run) before Start records it
    class EagerStarter(StepFunctionsStarter):
        def start(self, job: Any) -> str | None:
            run = super().start(job)
            assert run is not None
            pipeline.discover(job, run)
            return run

    service = pipeline.runtime.job_service(EagerStarter(pipeline.clients.client("stepfunctions"), machine))

    # When the job is started
    job = service.start(OWNER, pipeline.request()).job

    # Then Start keeps the run (no stop), and the job is IN_PROGRESS on it
    assert pipeline.get(job).status == "IN_PROGRESS"
    assert pipeline.get(job).run_id == job.run_id
    sfn = pipeline.clients.client("stepfunctions")
    assert job.run_id is not None
    assert sfn.describe_execution(executionArn=job.run_id)["status"] != "ABORTED"
