"""The real definition on moto's engine with small fake step handlers: the flow itself.

The fakes follow the brief's event shapes; the real handlers run through the same harness in
test_pipeline_e2e.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from batcheval.aws import AwsClients
from tests.e2e.conftest import BUCKET
from tests.e2e.moto_sfn import MotoStepFunctions

OWNER = "111122223333"
JOB = "job-1"
MANIFEST_KEY = f"jobs/{OWNER}/{JOB}/manifest.jsonl"


class Fakes:
    """Step handlers that keep just enough state to check the orchestration."""

    def __init__(self, clients: AwsClients, sessions: int) -> None:
        self.clients = clients
        self.sessions = sessions
        self.scored: list[str] = []
        self.hand_back_once: set[str] = set()
        self.crash: set[str] = set()

    def discover(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if "discover" in self.crash:
            raise RuntimeError("discovery broke")
        body = b"".join(
            json.dumps({"sessionId": f"s{i}", "spanCount": 3}).encode() + b"\n" for i in range(self.sessions)
        )
        self.clients.client("s3").put_object(Bucket=BUCKET, Key=MANIFEST_KEY, Body=body)
        owner = event.get("owner", OWNER)
        return {
            "owner": owner,
            "batchEvaluationId": event.get("batchEvaluationId", JOB),
            "proceed": self.sessions > 0,
            "manifest": {"Bucket": BUCKET, "Key": MANIFEST_KEY} if self.sessions else None,
            "totalSessions": self.sessions,
        }

    def score_batch(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        remaining = [item for item in event["Items"] if item["sessionId"] in self.hand_back_once]
        self.hand_back_once -= {item["sessionId"] for item in remaining}
        done = [item["sessionId"] for item in event["Items"] if item not in remaining]
        self.scored.extend(done)
        return {"scored": len(done), "failed": 0, "remaining": remaining}

    def aggregate(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if "aggregate" in self.crash:
            raise RuntimeError("aggregation broke")
        return {
            "owner": event["owner"],
            "batchEvaluationId": event["batchEvaluationId"],
            "status": "COMPLETED",
        }

    def finalize(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"owner": event["owner"], "batchEvaluationId": event["batchEvaluationId"], "status": "FAILED"}

    def handlers(self) -> dict[str, Any]:
        return {
            "discover": self.discover,
            "score_batch": self.score_batch,
            "aggregate": self.aggregate,
            "finalize": self.finalize,
        }


@pytest.fixture
def fakes(aws: AwsClients) -> Fakes:
    return Fakes(aws, sessions=5)


@pytest.fixture
def machine(aws: AwsClients, fakes: Fakes) -> Iterator[MotoStepFunctions]:
    with MotoStepFunctions(aws, fakes.handlers(), bucket=BUCKET).deployed() as deployed:
        yield deployed


JOB_INPUT = {"owner": OWNER, "batchEvaluationId": JOB}


def test_a_job_runs_discover_every_batch_once_then_aggregate(
    machine: MotoStepFunctions, fakes: Fakes
) -> None:
    # When the machine runs on the API's input
    execution = machine.run(JOB_INPUT, name="job-run-1")
    # Then it succeeds, each session is scored exactly once, and the steps ran in order
    assert execution["status"] == "SUCCEEDED"
    assert sorted(fakes.scored) == [f"s{i}" for i in range(5)]
    steps = machine.steps()
    assert steps[0] == "discover"
    assert steps[-1] == "aggregate"
    assert steps.count("score_batch") == 5
    assert "finalize" not in steps
    # And discover got the input plus the execution ARN
    assert machine.events_of("discover") == [dict(JOB_INPUT, executionArn=execution["executionArn"])]
    # And each batch carries the job reference in BatchInput, items as the manifest has them
    for event in machine.events_of("score_batch"):
        assert event["BatchInput"] == JOB_INPUT
        assert event["Items"][0]["spanCount"] == 3


def test_map_results_go_under_the_jobs_prefix_and_aggregate_gets_the_reference(
    machine: MotoStepFunctions, aws: AwsClients
) -> None:
    # When a job runs
    machine.run(JOB_INPUT)
    # Then aggregate is told where the Map's ResultWriter put its manifest: under the job's prefix
    [event] = machine.events_of("aggregate")
    details = event["mapRun"]["ResultWriterDetails"]
    assert details["Bucket"] == BUCKET
    assert details["Key"].startswith(f"jobs/{OWNER}/{JOB}/map-run/")
    assert aws.client("s3").get_object(Bucket=BUCKET, Key=details["Key"])["Body"].read()
    assert set(event) == {"owner", "batchEvaluationId", "mapRun"}


def test_a_child_calls_score_batch_again_on_what_it_handed_back(
    machine: MotoStepFunctions, fakes: Fakes
) -> None:
    # Given a batch whose first call reaches its deadline before s3
    fakes.hand_back_once = {"s3"}
    # When the job runs
    execution = machine.run(JOB_INPUT)
    # Then s3 is scored by a second call of the same child, once
    assert execution["status"] == "SUCCEEDED"
    assert sorted(fakes.scored) == [f"s{i}" for i in range(5)]
    items = [[item["sessionId"] for item in e["Items"]] for e in machine.events_of("score_batch")]
    assert items.count(["s3"]) == 2


def test_a_job_with_nothing_to_score_ends_quietly(machine: MotoStepFunctions, fakes: Fakes) -> None:
    fakes.sessions = 0
    execution = machine.run(JOB_INPUT)
    assert execution["status"] == "SUCCEEDED"
    assert machine.steps() == ["discover"]


def test_a_failed_discovery_finalizes_the_job_and_fails_the_execution(
    machine: MotoStepFunctions, fakes: Fakes
) -> None:
    fakes.crash = {"discover"}
    execution = machine.run(JOB_INPUT)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "BatchEvaluationFailed"
    [event] = machine.events_of("finalize")
    assert event["owner"] == OWNER
    assert event["batchEvaluationId"] == JOB
    assert event["error"]["Error"] == "RuntimeError"
    assert "discovery broke" in event["error"]["Cause"]


def test_a_console_request_is_passed_to_discover_unchanged(machine: MotoStepFunctions) -> None:
    # Given a full StartBatchEvaluation request as the execution input (console "Start execution")
    request = {
        "batchEvaluationName": "console_run",
        "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}],
        "dataSourceConfig": {"cloudWatchLogs": {"serviceNames": ["svc"], "logGroupNames": ["g"]}},
    }
    # When it runs
    execution = machine.run(request)
    # Then discover receives the request itself plus the execution ARN
    assert machine.events_of("discover") == [dict(request, executionArn=execution["executionArn"])]
    assert execution["status"] == "SUCCEEDED"


def test_a_console_request_that_never_became_a_job_fails_without_finalize(
    machine: MotoStepFunctions, fakes: Fakes
) -> None:
    fakes.crash = {"discover"}
    execution = machine.run({"batchEvaluationName": "console_run"})
    assert execution["status"] == "FAILED"
    assert execution["error"] == "DiscoveryFailed"
    assert "finalize" not in machine.steps()


def test_a_failed_aggregation_is_retried_then_finalized(machine: MotoStepFunctions, fakes: Fakes) -> None:
    fakes.crash = {"aggregate"}
    execution = machine.run(JOB_INPUT)
    assert execution["status"] == "FAILED"
    # The generic retrier tries twice more, waiting with full jitter (at most the backoff interval)
    assert machine.steps().count("aggregate") == 3
    assert len(machine.retry_delays) == 2
    assert all(0 <= delay <= 10 for delay in machine.retry_delays)
    [event] = machine.events_of("finalize")
    assert event["error"]["Error"] == "RuntimeError"
