"""The job commands' client-side behaviour: request building, watch, results streaming, retry-failed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

import batcheval
from batcheval.cli import main
from batcheval.errors import ValidationError
from batcheval.product import jobs_cli
from batcheval.product.start_request import build_request, parse_duration
from batcheval.results.otel import to_log_record
from batcheval.results.records import EvaluationResult, SpanContext

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
JOB_ID = "nightly-abcdefghij"
JOB_ARN = f"arn:aws:bedrock-agentcore:us-east-1:123456789012:batch-evaluate/{JOB_ID}"


def _record(session: str, value: float | None, *, error: str | None = None) -> EvaluationResult:
    return EvaluationResult(
        evaluator_id="Builtin.Helpfulness",
        evaluator_name="Builtin.Helpfulness",
        evaluator_arn="arn:aws:bedrock-agentcore:::evaluator/Builtin.Helpfulness",
        context=SpanContext(session),
        level="SESSION",
        value=value,
        label=None if value is None else "Good",
        error_code=error,
        error_message="judge down" if error else None,
    )


def _job(status: str, done: int, failed: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "batchEvaluationId": JOB_ID,
        "batchEvaluationArn": JOB_ARN,
        "batchEvaluationName": "nightly",
        "status": status,
        "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}],
        "evaluationResults": {
            "numberOfSessionsCompleted": done,
            "numberOfSessionsFailed": failed,
            "numberOfSessionsInProgress": 10 - done - failed,
            "totalNumberOfSessions": 10,
        },
        **extra,
    }


class FakeClient:
    """Answers Get from a script of job states (the last one repeats)."""

    def __init__(self, *jobs: dict[str, Any]) -> None:
        self.jobs = list(jobs)
        self.calls: list[str] = []

    def get_batch_evaluation(self, batchEvaluationId: str) -> dict[str, Any]:
        self.calls.append(batchEvaluationId)
        return self.jobs.pop(0) if len(self.jobs) > 1 else self.jobs[0]


@pytest.fixture
def fake_client(monkeypatch):
    def install(client: Any) -> Any:
        monkeypatch.setattr(jobs_cli, "make_client", lambda args: client)
        return client

    return install


def test_since_sets_a_time_window_ending_now_and_flags_extend_the_file(tmp_path):
    # Given a request file with one evaluator and a service name
    path = tmp_path / "r.json"
    path.write_text(
        json.dumps(
            {
                "batchEvaluationName": "nightly",
                "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}],
                "dataSourceConfig": {"cloudWatchLogs": {"serviceNames": ["a.DEFAULT"]}},
            }
        )
    )
    # When flags add an evaluator, a log group and --since 24h
    request = build_request(
        request_file=str(path),
        evaluators=["Builtin.Helpfulness", "Builtin.Correctness"],
        log_groups=["/spans"],
        since="24h",
        output_log_group="/results",
        now=NOW,
    )
    # Then lists are extended without duplicates and the window is the last 24 hours
    assert request["evaluators"] == [
        {"evaluatorId": "Builtin.Helpfulness"},
        {"evaluatorId": "Builtin.Correctness"},
    ]
    logs = request["dataSourceConfig"]["cloudWatchLogs"]
    assert logs["logGroupNames"] == ["/spans"]
    assert logs["filterConfig"]["timeRange"] == {
        "startTime": "2026-12-05T12:00:00Z",
        "endTime": "2026-12-06T12:00:00Z",
    }
    assert request["outputConfig"] == {"cloudWatchConfig": {"logGroupName": "/results"}}


def test_a_flag_that_contradicts_the_file_is_a_usage_error(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"batchEvaluationName": "nightly"}))
    with pytest.raises(ValidationError, match="--name 'other' conflicts with batchEvaluationName='nightly'"):
        build_request(request_file=str(path), name="other", now=NOW)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["0h", "24", "1y", "-1h"])
def test_bad_durations_are_usage_errors(text):
    with pytest.raises(ValidationError, match="--since wants a positive duration"):
        parse_duration(text)


def test_watch_follows_the_job_to_its_end_and_prints_the_statistics(fake_client, capsys):
    # Given a job that progresses and completes with extended statistics
    summary = {
        "evaluatorId": "Builtin.Helpfulness",
        "statistics": {"averageScore": 0.75},
        "totalEvaluated": 9,
        "totalFailed": 1,
        "extendedStatistics": {"p50": 0.8, "p90": 1.0, "passRate": 0.7, "passThreshold": 0.5},
    }
    done = _job("COMPLETED_WITH_ERRORS", 9, 1)
    done["evaluationResults"]["evaluatorSummaries"] = [summary]
    client = fake_client(FakeClient(_job("IN_PROGRESS", 2), _job("IN_PROGRESS", 6, 1), done))
    # When watched
    code = main(["watch", JOB_ID, "--interval", "0", "--format", "table"])
    captured = capsys.readouterr()
    # Then it polled until the end, showed progress on stderr and the summary on stdout
    assert code == 0
    assert len(client.calls) == 3
    assert f"job {JOB_ID}: 10/10 sessions done, 1 failed" in captured.err
    assert "status:    COMPLETED_WITH_ERRORS" in captured.out
    assert "score >= 0.5" in captured.out
    assert "0.700" in captured.out


def test_watch_gives_up_after_the_timeout(fake_client, capsys):
    fake_client(FakeClient(_job("IN_PROGRESS", 2)))
    assert main(["watch", JOB_ID, "--interval", "0", "--timeout", "0"]) == 1
    assert "is still IN_PROGRESS after 0 s" in capsys.readouterr().err


@mock_aws
def test_results_stream_from_the_s3_export(fake_client, capsys, monkeypatch):
    # Given a finished job whose export holds two JSONL objects
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="payloads")
    prefix = f"jobs/123456789012/{JOB_ID}/results/"
    first = {**_record("s-1", 1.0).to_record(), "testScenarioId": "booking"}
    second = _record("s-2", None, error="JudgeUnavailable").to_record()
    s3.put_object(Bucket="payloads", Key=prefix + "part-0001.jsonl", Body=json.dumps(first) + "\n")
    s3.put_object(Bucket="payloads", Key=prefix + "part-0002.jsonl", Body=json.dumps(second) + "\n")
    export = {"s3Uri": f"s3://payloads/{prefix}", "format": "JSONL"}
    fake_client(FakeClient(_job("COMPLETED", 10, resultsExport=export)))
    # When the results are streamed as JSON Lines, Then every record comes out, in key order
    assert main(["results", JOB_ID, "--region", "us-east-1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [first, second]
    # And as a table the unscored one says why
    assert main(["results", JOB_ID, "--region", "us-east-1", "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "booking" in out
    assert "JudgeUnavailable: judge down" in out


@mock_aws
def test_results_fall_back_to_the_output_log_group(fake_client, capsys, monkeypatch):
    # Given a job without an export whose results went to its output log group (AgentCore's records)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="/results")
    logs.create_log_stream(logGroupName="/results", logStreamName="s")
    result = _record("s-1", 0.5)
    now_ms = int(time.time() * 1000)  # CloudWatch (and moto) drop events older than 14 days
    other_job = to_log_record(result, service_name="a", job_arn=JOB_ARN + "x", time_ns=1)
    ours = to_log_record(result, service_name="a", job_arn=JOB_ARN, time_ns=2)
    logs.put_log_events(
        logGroupName="/results",
        logStreamName="s",
        logEvents=[
            {"timestamp": now_ms, "message": json.dumps(other_job)},
            {"timestamp": now_ms, "message": json.dumps(ours)},
        ],
    )
    config = {"cloudWatchConfig": {"logGroupName": "/results"}}
    fake_client(FakeClient(_job("COMPLETED", 10, outputConfig=config)))
    # When streamed
    assert main(["results", JOB_ID, "--region", "us-east-1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Then only this job's record comes back, in the result-record shape
    assert len(lines) == 1
    assert EvaluationResult.from_record(lines[0]).value == 0.5


def test_results_of_a_job_without_any_source_is_a_usage_error(fake_client, capsys):
    fake_client(FakeClient(_job("IN_PROGRESS", 2)))
    assert main(["results", JOB_ID]) == 2
    assert "has no S3 results export or output log group yet" in capsys.readouterr().err


def test_retry_failed_is_an_extension_operation_of_the_stock_client(fake_client, capsys):
    # Given the client helper's client (the extension is part of its model) with the wire stubbed
    client = batcheval.client(
        "http://127.0.0.1:1", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    stub = Stubber(client)
    stub.add_response(
        "retry_failed_batch_evaluation",
        {"batchEvaluationId": JOB_ID, "batchEvaluationArn": JOB_ARN, "status": "PENDING"},
        {"batchEvaluationId": JOB_ID},
    )
    fake_client(client)
    # When retry-failed runs, Then it calls the extension and prints its answer
    with stub:
        assert main(["retry-failed", JOB_ID, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "PENDING"
    # And the client's wire is the API's route
    from batcheval.api.routes import RETRY_FAILED

    operation = client.meta.service_model.operation_model("RetryFailedBatchEvaluation")
    assert (operation.http["method"], operation.http["requestUri"], operation.http["responseCode"]) == (
        RETRY_FAILED.method,
        RETRY_FAILED.path,
        RETRY_FAILED.success_status,
    )


def test_start_with_watch_follows_the_new_job(fake_client, capsys, tmp_path):
    # Given a client that starts a job which then completes
    class Starting(FakeClient):
        def start_batch_evaluation(self, **request):
            self.request = request
            return {"batchEvaluationId": JOB_ID, "batchEvaluationName": "nightly", "status": "PENDING"}

    client = fake_client(Starting(_job("IN_PROGRESS", 3), _job("COMPLETED", 10)))
    # When started with --watch
    code = main(
        ["start", "--service-name", "a.DEFAULT", "--log-group", "/spans", "--watch", "--interval", "0"]
    )
    # Then it watched the job it started to the end
    assert code == 0
    assert client.calls == [JOB_ID, JOB_ID]
    assert client.request["dataSourceConfig"]["cloudWatchLogs"]["serviceNames"] == ["a.DEFAULT"]
    assert "COMPLETED" in capsys.readouterr().out
