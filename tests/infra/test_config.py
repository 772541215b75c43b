"""The deployment configuration: defaults, and errors that name the bad key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from infra.config import ConfigError, load_config, parse_config


def test_defaults_lock_the_stack_down():
    # Given no configuration / When parsed
    config = parse_config(None)

    # Then only this account may call, and the ExternalId is derived at deploy time
    assert config.allowedAccountIds == []
    assert config.allowedOrganizationId is None
    assert config.callerExternalId is None
    assert config.resource_prefix == "batcheval-prod"


def test_every_bad_key_is_named_with_its_path():
    # Given several mistakes, one nested in a schedule
    raw = {
        "allowedAccountIds": ["12345"],
        "logRetentionDays": 10,
        "schedules": [{"name": "nightly", "expression": "every day", "job": {}}],
        "colour": "blue",
    }

    # When / Then one error names each key
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    message = str(raised.value)
    for key in (
        "batcheval.allowedAccountIds[0]",
        "batcheval.logRetentionDays",
        "batcheval.schedules[0].expression",
        "batcheval.schedules[0].job",
        "batcheval.colour",
    ):
        assert key in message


def test_schedule_template_must_leave_the_window_to_the_schedule():
    # Given a job template that sets its own time range
    job = {
        "dataSourceConfig": {
            "cloudWatchLogs": {
                "serviceNames": ["a"],
                "logGroupNames": ["g"],
                "filterConfig": {"timeRange": {"startTime": "2026-01-01T00:00:00Z"}},
            }
        },
        "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}],
    }

    # When / Then it is refused, naming the key
    with pytest.raises(ConfigError, match=r"batcheval\.schedules\[0\]\.job.*timeRange"):
        parse_config({"schedules": [{"name": "n", "expression": "rate(1 hour)", "job": job}]})


def test_duplicate_schedule_names_are_refused():
    job = {"dataSourceConfig": {"cloudWatchLogs": {}}, "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}]}
    schedule = {"name": "n", "expression": "rate(1 hour)", "job": job}
    with pytest.raises(ConfigError, match="unique"):
        parse_config({"schedules": [schedule, schedule]})


def test_config_file_wins_over_context(tmp_path: Path):
    # Given a config file and a context value
    path = tmp_path / "prod.json"
    path.write_text(json.dumps({"stage": "fromfile"}))

    # When loading with both / Then the file is used; an unreadable file is named
    assert load_config({"batcheval": {"stage": "ctx"}, "batchevalConfigFile": str(path)}).stage == "fromfile"
    with pytest.raises(ConfigError, match="batchevalConfigFile"):
        load_config({"batchevalConfigFile": str(tmp_path / "missing.json")})


def test_committed_cdk_json_is_valid():
    cdk_json = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())
    assert parse_config(cdk_json["context"]["batcheval"]).stage == "prod"
    # Without it the Distributed Map's ResultWriter is silently dropped by CDK.
    assert cdk_json["context"]["@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2"] is True
