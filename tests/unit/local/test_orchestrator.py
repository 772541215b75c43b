"""The local orchestrator runs the state machine's flow on the step handlers (fakes here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from batcheval.aws import AwsClients
from batcheval.jobs.identifiers import execution_name
from batcheval.jobs.records import Job, SpecLocation
from batcheval.local.orchestrator import TOLERANCE_EXCEEDED, LocalOrchestrator, batches
from batcheval.local.statemachine import MapSettings, load_definition, map_settings

OWNER = "111122223333"
BUCKET = "payloads-bucket"
SETTINGS = MapSettings(
    max_items_per_batch=2,
    max_input_bytes_per_batch=None,
    max_concurrency=2,
    tolerated_failure_percentage=25,
    task_failed_retries=1,
)


def _job(job_id: str = "job-1") -> Job:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Job(
        owner=OWNER,
        job_id=job_id,
        arn=f"arn:aws:bedrock-agentcore:us-east-1:{OWNER}:batch-evaluation/{job_id}",
        name=job_id,
        status="PENDING",
        created_at=now,
        updated_at=now,
        spec=SpecLocation(BUCKET, "k", "key"),
        request_hash="h",
    )


class Fakes:
    def __init__(self, clients: AwsClients, sessions: int = 7) -> None:
        self.clients = clients
        self.sessions = sessions
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.scored: list[str] = []
        self.crash_batches_with: set[str] = set()
        self.hand_back_once: set[str] = set()
        self.crash_discover = False
        self.gate: threading.Event | None = None
        self._lock = threading.Lock()

    def _record(self, step: str, event: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append((step, event))

    def discover(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._record("discover", event)
        if self.crash_discover:
            raise RuntimeError("no discovery today")
        key = f"jobs/{OWNER}/{event['batchEvaluationId']}/manifest.jsonl"
        body = b"".join(json.dumps({"sessionId": f"s{i}"}).encode() + b"\n" for i in range(self.sessions))
        self.clients.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
        return {
            "owner": event["owner"],
            "batchEvaluationId": event["batchEvaluationId"],
            "proceed": self.sessions > 0,
            "manifest": {"Bucket": BUCKET, "Key": key},
            "totalSessions": self.sessions,
        }

    def score_batch(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._record("score_batch", event)
        assert context.get_remaining_time_in_millis() > 0
        if self.gate is not None:
            self.gate.wait(10)
        ids = [item["sessionId"] for item in event["Items"]]
        if self.crash_batches_with & set(ids):
            raise RuntimeError("batch crashed")
        with self._lock:
            back = [item for item in event["Items"] if item["sessionId"] in self.hand_back_once]
            self.hand_back_once -= {item["sessionId"] for item in back}
            self.scored.extend(i for i in ids if i not in {b["sessionId"] for b in back})
        return {"scored": len(ids) - len(back), "failed": 0, "remaining": back}

    def aggregate(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._record("aggregate", event)
        return {**{k: event[k] for k in ("owner", "batchEvaluationId")}, "status": "COMPLETED"}

    def finalize(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._record("finalize", event)
        return {}

    def handlers(self) -> dict[str, Any]:
        return {
            "discover": self.discover,
            "score_batch": self.score_batch,
            "aggregate": self.aggregate,
            "finalize": self.finalize,
        }

    def events(self, step: str) -> list[dict[str, Any]]:
        with self._lock:
            return [event for name, event in self.calls if name == step]


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsClients]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        aws = AwsClients(region="us-east-1")
        aws.client("s3").create_bucket(Bucket=BUCKET)
        yield aws


@pytest.fixture
def fakes(clients: AwsClients) -> Fakes:
    return Fakes(clients)


@pytest.fixture
def orchestrator(clients: AwsClients, fakes: Fakes) -> LocalOrchestrator:
    return LocalOrchestrator(clients, account_id=OWNER, handlers=fakes.handlers(), settings=SETTINGS)


def _run(orchestrator: LocalOrchestrator, job: Job | None = None) -> str:
    job = job or _job()
    orchestrator.start(job)
    return orchestrator.wait(job.owner, job.job_id, timeout_s=20).outcome


def test_batches_respect_the_item_and_byte_limits() -> None:
    items = [{"sessionId": f"s{i}"} for i in range(5)]  # 17 bytes each
    assert [len(b) for b in batches(items, max_items=2, max_bytes=None)] == [2, 2, 1]
    assert [len(b) for b in batches(items, max_items=10, max_bytes=40)] == [2, 2, 1]
    assert [b for batch in batches(items, max_items=3, max_bytes=None) for b in batch] == items


def test_settings_default_to_the_state_machine_definition(clients: AwsClients) -> None:
    orchestrator = LocalOrchestrator(clients, account_id=OWNER, handlers={})
    assert orchestrator.settings == map_settings(load_definition())


def test_a_job_runs_discover_batches_and_aggregate(orchestrator: LocalOrchestrator, fakes: Fakes) -> None:
    # When a job is started and its run ends
    arn = orchestrator.start(_job())
    outcome = orchestrator.wait(OWNER, "job-1", timeout_s=20).outcome
    # Then every session was scored once, in batches of the configured size, then aggregated
    assert outcome == "SUCCEEDED"
    assert sorted(fakes.scored) == sorted(f"s{i}" for i in range(7))
    sizes = sorted(len(event["Items"]) for event in fakes.events("score_batch"))
    assert sizes == [1, 2, 2, 2]
    assert all(
        e["BatchInput"] == {"owner": OWNER, "batchEvaluationId": "job-1"} for e in fakes.events("score_batch")
    )
    assert fakes.events("discover") == [{"owner": OWNER, "batchEvaluationId": "job-1", "executionArn": arn}]
    assert fakes.events("aggregate") == [{"owner": OWNER, "batchEvaluationId": "job-1", "mapRun": None}]
    assert fakes.events("finalize") == []


def test_the_execution_arn_is_named_as_the_step_functions_starter_names_it(
    orchestrator: LocalOrchestrator,
) -> None:
    arn = orchestrator.start(_job())
    assert (
        arn == f"arn:aws:states:us-east-1:{OWNER}:execution:batcheval-local:{execution_name(OWNER, 'job-1')}"
    )
    orchestrator.wait(OWNER, "job-1", timeout_s=20)


def test_a_second_start_of_a_running_job_is_the_same_run(
    orchestrator: LocalOrchestrator, fakes: Fakes
) -> None:
    fakes.gate = threading.Event()
    first = orchestrator.start(_job())
    second = orchestrator.start(_job())
    fakes.gate.set()
    orchestrator.wait(OWNER, "job-1", timeout_s=20)
    assert first == second
    assert len(fakes.events("discover")) == 1


def test_handed_back_sessions_are_scored_by_another_call(
    orchestrator: LocalOrchestrator, fakes: Fakes
) -> None:
    fakes.hand_back_once = {"s2"}
    assert _run(orchestrator) == "SUCCEEDED"
    assert sorted(fakes.scored) == sorted(f"s{i}" for i in range(7))
    assert [e["Items"] for e in fakes.events("score_batch")].count([{"sessionId": "s2"}]) == 1


def test_a_crashing_batch_is_retried_then_tolerated(orchestrator: LocalOrchestrator, fakes: Fakes) -> None:
    # Given the last batch (1 of 7 sessions: 14%, within the 25% tolerated) always crashing
    fakes.crash_batches_with = {"s6"}
    # When the job runs
    outcome = _run(orchestrator)
    # Then that batch was tried twice (one retry), and the job was aggregated, not failed
    assert outcome == "SUCCEEDED"
    assert [e["Items"] for e in fakes.events("score_batch")].count([{"sessionId": "s6"}]) == 2
    assert len(fakes.events("aggregate")) == 1


def test_too_many_failed_batches_finalize_the_job(orchestrator: LocalOrchestrator, fakes: Fakes) -> None:
    fakes.crash_batches_with = {"s0", "s2"}  # two batches of two: 4 of 7 sessions
    assert _run(orchestrator) == "FAILED"
    [event] = fakes.events("finalize")
    assert event["error"]["Error"] == TOLERANCE_EXCEEDED
    assert "4 of 7" in event["error"]["Cause"]
    assert fakes.events("aggregate") == []


def test_a_failed_discovery_finalizes_with_the_error(orchestrator: LocalOrchestrator, fakes: Fakes) -> None:
    fakes.crash_discover = True
    assert _run(orchestrator) == "FAILED"
    [event] = fakes.events("finalize")
    assert event == {
        "owner": OWNER,
        "batchEvaluationId": "job-1",
        "error": {"Error": "RuntimeError", "Cause": "no discovery today"},
    }


def test_nothing_to_score_ends_after_discover(orchestrator: LocalOrchestrator, fakes: Fakes) -> None:
    fakes.sessions = 0
    assert _run(orchestrator) == "SUCCEEDED"
    assert [name for name, _ in fakes.calls] == ["discover"]


def test_stop_mid_run_starts_no_new_batch_and_finalizes_as_aborted(
    orchestrator: LocalOrchestrator, fakes: Fakes
) -> None:
    # Given a run whose first batches are in progress
    fakes.gate = threading.Event()
    arn = orchestrator.start(_job())
    for _ in range(1000):  # until both workers hold a batch
        if len(fakes.events("score_batch")) == SETTINGS.max_concurrency:
            break
        threading.Event().wait(0.01)
    # When the job is stopped, then the running batches return
    orchestrator.stop(_job())
    fakes.gate.set()
    run = orchestrator.wait(OWNER, "job-1", timeout_s=20)
    # Then only the batches already running were scored, and finalize got the ABORTED status change
    assert run.outcome == "ABORTED"
    assert len(fakes.events("score_batch")) == SETTINGS.max_concurrency
    [event] = fakes.events("finalize")
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert event["detail"]["status"] == "ABORTED"
    assert event["detail"]["executionArn"] == arn
    assert json.loads(event["detail"]["input"]) == {"owner": OWNER, "batchEvaluationId": "job-1"}
    assert fakes.events("aggregate") == []


def test_stop_without_a_live_run_finalizes_at_once(orchestrator: LocalOrchestrator, fakes: Fakes) -> None:
    orchestrator.stop(_job("never-run"))
    [event] = fakes.events("finalize")
    assert event["detail"]["status"] == "ABORTED"
