"""Schedules from configuration; alarms and the dashboard."""

from __future__ import annotations

import json

from tests.infra.conftest import CALLER, Synth
from tests.infra.support import function_by_handler


def schedules(synth: Synth) -> dict[str, dict]:
    return {
        s["Properties"]["Name"]: s["Properties"] for s in synth.resources("AWS::Scheduler::Schedule").values()
    }


def test_each_configured_schedule_starts_jobs_with_retry_dlq_and_encryption(full: Synth):
    found = schedules(full)
    assert set(found) == {"batcheval-test-nightly", "batcheval-test-hourly"}
    nightly = found["batcheval-test-nightly"]
    assert nightly["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert nightly["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert nightly["FlexibleTimeWindow"] == {"MaximumWindowInMinutes": 15, "Mode": "FLEXIBLE"}
    assert "KmsKeyArn" in nightly
    target = nightly["Target"]
    assert target["Arn"] == {
        "Fn::GetAtt": [function_by_handler(full.service, "batcheval.api.handlers.scheduled_start"), "Arn"]
    }
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert "Arn" in target["DeadLetterConfig"]
    assert found["batcheval-test-hourly"]["FlexibleTimeWindow"] == {"Mode": "OFF"}


def test_schedule_input_carries_template_window_owner_and_scheduled_time(full: Synth):
    payload = json.dumps(schedules(full)["batcheval-test-hourly"]["Target"]["Input"])
    assert "<aws.scheduler.scheduled-time>" in payload
    assert CALLER in payload  # the schedule's owner account
    assert "lookbackMinutes" in payload
    assert "Builtin.Helpfulness" in payload
    nightly = json.dumps(schedules(full)["batcheval-test-nightly"]["Target"]["Input"])
    assert "AWS::AccountId" in nightly  # default owner: the service's own account


def test_no_schedules_configured_means_no_scheduler_resources(default: Synth):
    assert default.resources("AWS::Scheduler::Schedule") == {}
    assert default.resources("AWS::Scheduler::ScheduleGroup") == {}


def alarm_metrics(synth: Synth) -> set[tuple[str, str]]:
    return {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in synth.resources("AWS::CloudWatch::Alarm").values()
    }


def test_alarms_cover_failures_errors_throttles_5xx_and_dead_letters(full: Synth):
    assert alarm_metrics(full) >= {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    }
    functions = len(full.resources("AWS::Lambda::Function"))
    lambda_alarms = [
        a
        for a in full.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Namespace"] == "AWS/Lambda"
    ]
    assert len(lambda_alarms) == 2 * functions
    (topic_id,) = full.resources("AWS::SNS::Topic")
    for alarm in full.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    (subscription,) = full.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


def test_dashboard_shows_jobs_sessions_and_judge_throttling(full: Synth):
    (dashboard,) = full.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "InvocationThrottles",
    ):
        assert metric in body
    assert "sum(scored)" in body  # sessions scored per minute, from the execution log
