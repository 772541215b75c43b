"""`batcheval start | get | list | stop | delete | watch` against the local API, as a person runs them."""

from __future__ import annotations

import json

import pytest

from batcheval.cli import main
from tests.contract.support import REGION

LOG_GROUP = "/aws/bedrock-agentcore/runtimes/cli_agent-DEFAULT"


@pytest.fixture
def cli(local_api, tenant, monkeypatch, capsys):
    """Run the CLI as `tenant` against the local API; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", tenant.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", tenant.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--endpoint-url", local_api.url, "--region", REGION])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _start(cli, *extra: str) -> dict:
    code, out, err = cli(
        "start",
        *("--evaluator", "ThirdParty.Batcheval.ToolErrorRate", "--service-name", "cli_agent.DEFAULT"),
        *("--log-group", LOG_GROUP, "--since", "24h", "--format", "json"),
        *extra,
    )
    assert code == 0, err
    return json.loads(out)


def test_start_get_list_stop_delete_round_trip(cli, tmp_path):
    # Given a request file in the boto3 shape and flags that complete it
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps({"description": "from a file", "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}]})
    )
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps([{"sessionId": "s-1", "testScenarioId": "scenario-a"}]))
    # When a job is started from both
    started = _start(cli, "--request", str(request), "--ground-truth", str(truth))
    job_id = started["batchEvaluationId"]
    # Then Get (JSON) shows the merged request: both evaluators, the window, the ground truth's effect
    code, out, _ = cli("get", job_id, "--format", "json")
    job = json.loads(out)
    assert code == 0
    assert [e["evaluatorId"] for e in job["evaluators"]] == [
        "Builtin.Helpfulness",
        "ThirdParty.Batcheval.ToolErrorRate",
    ]
    time_range = job["dataSourceConfig"]["cloudWatchLogs"]["filterConfig"]["timeRange"]
    assert set(time_range) == {"startTime", "endTime"}
    assert job["description"] == "from a file"
    # And Get as a table is for people
    code, out, _ = cli("get", job_id, "--format", "table")
    assert f"{started['batchEvaluationName']}  {job_id}" in out
    assert "status:    PENDING" in out
    # And list shows it
    code, out, _ = cli("list", "--format", "table")
    assert code == 0
    assert job_id in out
    # When stopped (no run yet: straight to STOPPED), watch ends at once with the unsuccessful exit code
    assert cli("stop", job_id, "--format", "table")[1].strip() == f"stopping {job_id}: STOPPED"
    code, out, _ = cli("watch", job_id, "--format", "table", "--interval", "0")
    assert code == 1
    assert "status:    STOPPED" in out
    # And delete removes it
    code, out, _ = cli("delete", job_id, "--format", "json")
    assert code == 0
    assert json.loads(out)["status"] == "DELETING"


def test_two_starts_without_a_name_do_not_conflict(cli):
    # When the same command runs twice (the README's quick start), Then both start
    first, second = _start(cli), _start(cli, "--client-token", "b" * 40)
    assert first["batchEvaluationId"] != second["batchEvaluationId"]


def test_a_refused_request_prints_code_message_reason_and_fields(cli):
    # When the service refuses a request (an unknown evaluator)
    code, out, err = cli(
        "start",
        "--evaluator",
        "Builtin.NoSuchThing",
        "--service-name",
        "cli_agent.DEFAULT",
        "--log-group",
        LOG_GROUP,
    )
    # Then the CLI prints the service's code, message, reason and the field, and exits 1
    assert code == 1
    assert out == ""
    ours = err[err.index("batcheval: error: ") :]  # the in-process handlers may log above it
    assert ours.startswith("batcheval: error: ValidationException: ")
    assert "\n  reason: " in ours
    assert "\n  evaluators[0].evaluatorId: " in ours


def test_an_unknown_job_is_resource_not_found(cli):
    code, _, err = cli("get", "nightly-abcdefghij", "--format", "json")
    assert code == 1
    assert "ResourceNotFoundException" in err


def test_retry_failed_reaches_the_service_through_the_extension_route(cli):
    # Given a job that has not finished (nothing to retry yet)
    job_id = _start(cli)["batchEvaluationId"]
    # When retry-failed is asked for, Then the sixth handler answers with the service's conflict
    code, _, err = cli("retry-failed", job_id, "--format", "json")
    assert code == 1
    assert "ConflictException: " in err
    assert "only finished jobs with errors can retry" in err
