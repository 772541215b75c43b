"""Jobs run end to end on the REAL definition (moto's Step Functions engine) with the REAL step handlers.

Started through the API's Start handler (its StepFunctionsStarter starts the execution), over moto
Logs / S3 / DynamoDB / KMS; the judge is scripted. Faults are injected around the real handlers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import msgspec
import pytest

from batcheval.api import dependencies
from batcheval.api.settings import ApiSettings
from batcheval.aws import AwsClients
from batcheval.errors import JudgeError
from batcheval.evaluators.registry import score_policy
from batcheval.jobs.resources import ensure_job_resources
from batcheval.judges.fake import ScriptedJudge
from batcheval.local.lambda_context import LocalLambdaContext
from batcheval.local.orchestrator import LocalOrchestrator, import_handlers
from batcheval.pipeline import runtime as pipeline_runtime
from batcheval.pipeline.runtime import build_runtime
from batcheval.results.aggregate import summarize
from batcheval.results.records import EvaluationResult
from batcheval.traces.sample_logs import runtime_log_group, write_samples
from batcheval.traces.samples import SampleSet, generate
from tests.e2e.conftest import BUCKET, REGION, isolated_dynamodb
from tests.e2e.moto_sfn import Handler, MotoStepFunctions
from tests.integration.api.conftest import api_event, invoke
from tests.integration.pipeline.conftest import moto_settings, scripted_judge

OWNER = "111111111111"  # the API events' caller account
TABLE = "batcheval-jobs"
SERVICE = "TravelAgent.DEFAULT"
GROUP = runtime_log_group("TravelAgent-e2e")
CODE_EVALUATOR = "ThirdParty.Batcheval.ToolErrorRate"
JUDGE_EVALUATOR = "Builtin.Helpfulness"
HELPFUL = {"explanation": "It answered.", "label": "Very Helpful"}
HOUR_NS = 3600 * 10**9
SESSIONS = 6
FINISHED = {"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "STOPPED"}


@dataclass
class Stack:
    clients: AwsClients
    machine: MotoStepFunctions
    sample: SampleSet
    window: tuple[int, int]
    replies: dict[str, Any]
    handlers: dict[str, Handler]

    def request(self, name: str) -> dict[str, Any]:
        start_s, end_s = self.window
        return {
            "batchEvaluationName": name,
            "dataSourceConfig": {
                "cloudWatchLogs": {
                    "serviceNames": [SERVICE],
                    "logGroupNames": [GROUP],
                    "filterConfig": {"timeRange": {"startTime": start_s, "endTime": end_s}},
                }
            },
            "evaluators": [{"evaluatorId": CODE_EVALUATOR}, {"evaluatorId": JUDGE_EVALUATOR}],
        }

    def start(self, name: str = "nightly") -> str:
        response = invoke("start", api_event("start", body=self.request(name), account=OWNER))
        assert response.status == 202, response.body
        job_id: str = response.body["batchEvaluationId"]
        return job_id

    def get(self, job_id: str) -> dict[str, Any]:
        response = invoke("get", api_event("get", job_id=job_id, account=OWNER))
        assert response.status == 200, response.body
        return response.body

    def wait(self, job_id: str, timeout_s: float = 300) -> dict[str, Any]:
        """Poll Get until the job ends (the bound only guards against a hang)."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.get(job_id)
            if job["status"] in FINISHED:
                return job
            assert time.monotonic() < deadline, f"job still {job['status']}"
            time.sleep(0.05)

    def export(self, job_id: str) -> list[dict[str, Any]]:
        s3 = self.clients.client("s3")
        prefix = f"jobs/{OWNER}/{job_id}/results/"
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
        return [
            msgspec.json.decode(line)
            for key in keys
            for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()
            if line.strip()
        ]

    def wrap(self, step: str, wrapper: Callable[[Handler], Handler]) -> None:
        self.machine.handlers[step] = wrapper(self.handlers[step])


@pytest.fixture
def stack(aws: AwsClients, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    ensure_job_resources(aws, table_name=TABLE, bucket_name=BUCKET)
    key_arn = aws.client("kms").create_key(Description="stack key")["KeyMetadata"]["Arn"]
    now_ns = time.time_ns()
    sample = generate(
        SESSIONS, seed=11, service_name=SERVICE, start_time_ns=now_ns - 3 * HOUR_NS, window_s=1800
    )
    write_samples(aws.client("logs"), sample, runtime_group=GROUP)
    replies: dict[str, Any] = {"step": HELPFUL}
    judge = scripted_judge(replies)
    handlers = import_handlers()
    with isolated_dynamodb(monkeypatch):
        machine_ctx = MotoStepFunctions(aws, dict(handlers), bucket=BUCKET, name="batcheval").deployed()
        machine = machine_ctx.__enter__()
        try:
            settings = moto_settings(key_arn, state_machine_arn=machine.state_machine_arn)
            pipeline_runtime.use(build_runtime(settings, clients=aws, judge=judge))
            api = ApiSettings(
                jobs_table=TABLE,
                payload_bucket=BUCKET,
                kms_key_arn=key_arn,
                region=REGION,
                state_machine_arn=machine.state_machine_arn,
            )
            dependencies.use(dependencies.build_service(api, clients=aws))
            yield Stack(
                aws,
                machine,
                sample,
                ((now_ns - 4 * HOUR_NS) // 10**9, (now_ns - 60 * 10**9) // 10**9),
                replies,
                dict(handlers),
            )
        finally:
            dependencies.reset()
            pipeline_runtime.reset()
            machine_ctx.__exit__(None, None, None)


def _identities(lines: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    """Result identity (session, evaluator, target, dimension) → how many times it was written."""
    return Counter(
        (
            line["context"]["spanContext"]["sessionId"],
            line["evaluatorId"],
            line["context"]["spanContext"].get("traceId"),
            line.get("evaluationDimensionName"),
        )
        for line in lines
    )


def _check_against_export(stack: Stack, job_id: str, job: dict[str, Any]) -> list[dict[str, Any]]:
    """Get's evaluatorSummaries equal an independent summary of the per-session export; nothing twice."""
    lines = stack.export(job_id)
    assert max(_identities(lines).values()) == 1
    expected = [
        s.to_wire()
        for s in summarize([EvaluationResult.from_record(x) for x in lines], policy_for=score_policy)
    ]
    summaries = job["evaluationResults"]["evaluatorSummaries"]
    assert sorted(summaries, key=lambda s: s["evaluatorId"]) == sorted(
        expected, key=lambda s: s["evaluatorId"]
    )
    return lines


def test_a_job_started_through_the_api_completes_on_the_state_machine(stack: Stack) -> None:
    # When a job is started through the API (its starter starts the execution named by the job)
    job_id = stack.start()
    job = stack.wait(job_id)
    # Then the execution ran every step and the job completed
    assert job["status"] == "COMPLETED"
    steps = stack.machine.steps()
    assert steps[0] == "discover"
    assert steps[-1] == "aggregate"
    assert stack.machine.failures == []
    assert steps.count("score_batch") == SESSIONS  # moto runs batches of one (motoize)
    results = job["evaluationResults"]
    assert results["numberOfSessionsCompleted"] == SESSIONS
    assert results["numberOfSessionsFailed"] == 0
    assert results["numberOfSessionsInProgress"] == 0
    assert results["totalNumberOfSessions"] == SESSIONS
    # And Get's summaries equal an independent computation over the per-session export
    lines = _check_against_export(stack, job_id, job)
    assert {line["context"]["spanContext"]["sessionId"] for line in lines} == set(stack.sample.session_ids)
    assert job["resultsExport"]["s3Uri"] == f"s3://{BUCKET}/jobs/{OWNER}/{job_id}/results/"


def test_a_throttled_judge_gives_per_session_errors_and_completes_with_errors(stack: Stack) -> None:
    # Given a judge that is throttled for every call
    stack.replies["step"] = JudgeError("ThrottlingException", "Rate exceeded", retryable=True)
    # When a job runs
    job_id = stack.start()
    job = stack.wait(job_id)
    # Then every session has its code-evaluator result and a judge error; nothing is lost
    assert job["status"] == "COMPLETED_WITH_ERRORS"
    results = job["evaluationResults"]
    assert results["numberOfSessionsCompleted"] + results["numberOfSessionsFailed"] == SESSIONS
    lines = _check_against_export(stack, job_id, job)
    judged = [line for line in lines if line["evaluatorId"] == JUDGE_EVALUATOR]
    assert {line["context"]["spanContext"]["sessionId"] for line in judged} == set(stack.sample.session_ids)
    assert {line.get("errorCode") for line in judged} == {"ThrottlingException"}


def test_a_batch_that_crashes_once_is_retried_and_nothing_is_counted_twice(stack: Stack) -> None:
    # Given a ScoreBatch that crashes after scoring, the first time only
    crashed: list[bool] = []

    def crash_once(handler: Handler) -> Handler:
        def wrapped(event: dict[str, Any], context: Any) -> Any:
            out = handler(event, context)
            if not crashed:
                crashed.append(True)
                raise RuntimeError("the Lambda died after its work")
            return out

        return wrapped

    stack.wrap("score_batch", crash_once)
    # When a job runs
    job = stack.wait(stack.start())
    # Then the machine retried that batch and every session counts once
    assert job["status"] == "COMPLETED"
    assert job["evaluationResults"]["numberOfSessionsCompleted"] == SESSIONS
    assert stack.machine.steps().count("score_batch") == SESSIONS + 1


def test_a_batch_that_always_crashes_ends_completed_with_errors_with_its_sessions_failed(
    stack: Stack,
) -> None:
    # Given one session whose batch crashes before scoring, every time
    victim = stack.sample.session_ids[0]

    def crash_on_victim(handler: Handler) -> Handler:
        def wrapped(event: dict[str, Any], context: Any) -> Any:
            if any(item["sessionId"] == victim for item in event["Items"]):
                raise RuntimeError("poison batch")
            return handler(event, context)

        return wrapped

    stack.wrap("score_batch", crash_on_victim)
    # When a job runs
    job_id = stack.start()
    job = stack.wait(job_id)
    # Then the other sessions are scored and the lost batch's session counts as failed: none is lost
    assert job["status"] == "COMPLETED_WITH_ERRORS"
    results = job["evaluationResults"]
    assert results["numberOfSessionsCompleted"] == SESSIONS - 1
    assert results["numberOfSessionsFailed"] == 1
    assert victim not in {line["context"]["spanContext"]["sessionId"] for line in stack.export(job_id)}


def test_a_duplicated_batch_neither_counts_nor_writes_twice(stack: Stack) -> None:
    # Given every batch delivered twice (a redrive, an at-least-once child)
    def twice(handler: Handler) -> Handler:
        def wrapped(event: dict[str, Any], context: Any) -> Any:
            handler(event, context)
            return handler(event, context)

        return wrapped

    stack.wrap("score_batch", twice)
    # When a job runs
    job_id = stack.start()
    job = stack.wait(job_id)
    # Then counts and results are those of one delivery
    assert job["status"] == "COMPLETED"
    assert job["evaluationResults"]["numberOfSessionsCompleted"] == SESSIONS
    _check_against_export(stack, job_id, job)


def test_a_batch_past_its_deadline_hands_back_and_the_child_scores_the_rest(stack: Stack) -> None:
    # Given the first call of every batch starting with no time left
    seen: set[str] = set()

    class NoTimeLeft:
        def __init__(self, context: Any) -> None:
            self._context = context
            self.aws_request_id = context.aws_request_id

        def get_remaining_time_in_millis(self) -> int:
            return 0

    def late_first(handler: Handler) -> Handler:
        def wrapped(event: dict[str, Any], context: Any) -> Any:
            key = msgspec.json.encode(event["Items"]).decode()
            if key in seen:
                return handler(event, context)
            seen.add(key)
            return handler(event, NoTimeLeft(context))

        return wrapped

    stack.wrap("score_batch", late_first)
    # When a job runs
    job_id = stack.start()
    job = stack.wait(job_id)
    # Then each child looped once on what it handed back, and every session was scored once
    assert job["status"] == "COMPLETED"
    assert stack.machine.steps().count("score_batch") == 2 * SESSIONS
    assert job["evaluationResults"]["numberOfSessionsCompleted"] == SESSIONS
    _check_against_export(stack, job_id, job)


def test_stop_mid_run_then_delete(stack: Stack) -> None:
    # Given a run where one batch has finished and every other waits until the test has stopped the job
    gate = threading.Event()
    first_done = threading.Event()
    calls: list[int] = []
    lock = threading.Lock()

    def hold_after_first(handler: Handler) -> Handler:
        def wrapped(event: dict[str, Any], context: Any) -> Any:
            with lock:
                calls.append(1)
                first = len(calls) == 1
            if first:
                try:
                    return handler(event, context)
                finally:
                    first_done.set()
            gate.wait(20)
            return handler(event, context)

        return wrapped

    stack.wrap("score_batch", hold_after_first)
    job_id = stack.start()
    assert first_done.wait(30)
    # When the job is stopped through the API (StopExecution), and EventBridge reports the abort
    stopped = invoke("stop", api_event("stop", job_id=job_id, account=OWNER))
    assert stopped.status == 202
    gate.set()
    execution = stack.machine.wait(stack.get(job_id)["batchEvaluationArn"] and _execution_of(stack, job_id))
    assert execution["status"] == "ABORTED"
    finalize = LocalLambdaContext(
        function_name="batcheval-Finalize",
        aws_request_id="eventbridge-abort",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{OWNER}:function:batcheval-Finalize",
    )  # Lambda passes a context to every invocation, EventBridge's included
    stack.handlers["finalize"](_aborted(execution), finalize)
    # Then the job is STOPPED with what was scored kept
    job = stack.wait(job_id)
    assert job["status"] == "STOPPED"
    assert job["evaluationResults"]["numberOfSessionsCompleted"] >= 1
    assert job["evaluationResults"]["numberOfSessionsCompleted"] < SESSIONS
    # When it is deleted, Then nothing of it remains
    assert invoke("delete", api_event("delete", job_id=job_id, account=OWNER)).status == 202
    assert invoke("get", api_event("get", job_id=job_id, account=OWNER)).status == 404
    listed = stack.clients.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"jobs/{OWNER}/{job_id}/")
    assert listed.get("KeyCount", 0) == 0


def _execution_of(stack: Stack, job_id: str) -> str:
    sfn = stack.clients.client("stepfunctions")
    for execution in sfn.list_executions(stateMachineArn=stack.machine.state_machine_arn)["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if msgspec.json.decode(described["input"]).get("batchEvaluationId") == job_id:
            arn: str = execution["executionArn"]
            return arn
    raise AssertionError(f"no execution for {job_id}")


def _aborted(execution: dict[str, Any]) -> dict[str, Any]:
    return {
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {
            "executionArn": execution["executionArn"],
            "status": "ABORTED",
            "input": execution["input"],
        },
    }


def test_local_orchestration_and_the_state_machine_give_identical_results(stack: Stack) -> None:
    # Given the same sessions and evaluators, a job run by the state machine
    on_machine = stack.start("on_machine")
    machine_job = stack.wait(on_machine)
    # And a job run by the local orchestrator (the definition's own batch size and concurrency)
    local = LocalOrchestrator(stack.clients, account_id=OWNER, handlers=stack.handlers)
    dependencies.use(
        dependencies.build_service(
            ApiSettings.model_validate(
                {
                    "jobs_table": TABLE,
                    "payload_bucket": BUCKET,
                    "kms_key_arn": pipeline_runtime.get_runtime().settings.kms_key_arn,
                    "region": REGION,
                }
            ),
            starter=local,
            clients=stack.clients,
        )
    )
    on_local = stack.start("on_local")
    local.wait(OWNER, on_local, timeout_s=300)
    local_job = stack.wait(on_local)
    # Then status, counts, summaries and per-session results are identical
    assert (local_job["status"], machine_job["status"]) == ("COMPLETED", "COMPLETED"), (
        local_job.get("errorDetails"),
        machine_job.get("errorDetails"),
        stack.machine.failures,
    )
    assert local_job["evaluationResults"] == machine_job["evaluationResults"]

    def comparable(lines: list[dict[str, Any]]) -> list[str]:
        drop = {"batchEvaluationId", "batchEvaluationArn", "timestamp", "timeUnixNano"}
        return sorted(
            msgspec.json.encode({k: v for k, v in x.items() if k not in drop}, order="sorted").decode()
            for x in lines
        )

    assert comparable(stack.export(on_local)) == comparable(stack.export(on_machine))


def test_retry_failed_sessions_rescores_only_them_into_the_same_result_set(stack: Stack) -> None:
    # Given a job whose one session's batch always crashed: COMPLETED_WITH_ERRORS
    victim = stack.sample.session_ids[0]
    broken = {"on": True}

    def crash_on_victim(handler: Handler) -> Handler:
        def wrapped(event: dict[str, Any], context: Any) -> Any:
            if broken["on"] and any(item["sessionId"] == victim for item in event["Items"]):
                raise RuntimeError("poison batch")
            return handler(event, context)

        return wrapped

    stack.wrap("score_batch", crash_on_victim)
    job_id = stack.start()
    assert stack.wait(job_id)["status"] == "COMPLETED_WITH_ERRORS"
    before = len(stack.machine.events_of("score_batch"))
    # When the fault is gone and the failed sessions are retried (extension action, a new execution)
    broken["on"] = False
    dependencies.get_service().retry_failed(OWNER, job_id)
    job = stack.wait(job_id)
    # Then only the failed session was scored again, and the job is complete with every session once
    again = stack.machine.events_of("score_batch")[before:]
    assert [[item["sessionId"] for item in event["Items"]] for event in again] == [[victim]]
    assert job["status"] == "COMPLETED"
    assert job["evaluationResults"]["numberOfSessionsCompleted"] == SESSIONS
    assert job["evaluationResults"]["numberOfSessionsFailed"] == 0
    lines = _check_against_export(stack, job_id, job)
    assert {line["context"]["spanContext"]["sessionId"] for line in lines} == set(stack.sample.session_ids)


def test_a_cross_account_job_reads_and_writes_in_the_owners_account(stack: Stack) -> None:
    # Given the caller's spans in the caller's own account, with its caller-access role deployed
    service_account = "123456789012"  # moto's default account: the stack's
    role = f"arn:aws:iam::{OWNER}:role/batcheval-caller-access"
    creds = stack.clients.client("sts").assume_role(RoleArn=role, RoleSessionName="setup")["Credentials"]
    owner_session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    owner_clients = AwsClients(region=REGION, session=owner_session)
    owner_clients.client("iam").create_role(
        RoleName="batcheval-caller-access",
        AssumeRolePolicyDocument=msgspec.json.encode({"Version": "2012-10-17"}).decode(),
    )
    write_samples(owner_clients.client("logs"), stack.sample, runtime_group=GROUP)
    # And the pipeline serving other owners through that role (the stack's account is not the owner's)
    settings = pipeline_runtime.get_runtime().settings.model_copy(
        update={"service_account_id": service_account}
    )
    judge = ScriptedJudge(responder=lambda request: HELPFUL)
    pipeline_runtime.use(build_runtime(settings, clients=stack.clients, judge=judge))
    # When the owner starts a job through the API
    job_id = stack.start()
    job = stack.wait(job_id)
    # Then it completes, and its per-session records went to the owner's output log group, not ours
    assert job["status"] == "COMPLETED"
    group = job["outputConfig"]["cloudWatchConfig"]["logGroupName"]
    stream = job["outputConfig"]["cloudWatchConfig"]["logStreamName"]
    owner_events = owner_clients.client("logs").get_log_events(logGroupName=group, logStreamName=stream)[
        "events"
    ]
    assert owner_events
    ours = stack.clients.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert ours == []
