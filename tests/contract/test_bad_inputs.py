"""Bad input of every kind: the right error, and the caller's jobs exactly as before."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.contract.support import data_source, no_state_change, start_request

CLOUDWATCH = data_source()["cloudWatchLogs"]
ONLINE_ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:online-evaluation-config/cfg-abcdefghij"
ONLINE = {"onlineEvaluationConfigSource": {"onlineEvaluationConfigArn": ONLINE_ARN}}


def _bad_field(client: Any, request: dict[str, Any], field_prefix: str) -> dict[str, Any]:
    with no_state_change(client), pytest.raises(client.exceptions.ValidationException) as exc:
        client.start_batch_evaluation(**request)
    response = exc.value.response
    names = [field["name"] for field in response.get("fieldList", [])]
    assert any(name.startswith(field_prefix) for name in names), (field_prefix, names, response["Error"])
    return response


@pytest.mark.parametrize("name", ["", "1starts_with_digit", "has-dash", "has space", "a" * 49, "ümlaut"])
def test_bad_names(agentcore, name):
    _bad_field(agentcore, start_request(name), "batchEvaluationName")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"description": "d" * 201}, "description"),
        ({"evaluators": [{"evaluatorId": "Builtin." + "x" * 200}]}, "evaluators[0].evaluatorId"),
        ({"clientToken": "t" * 257}, "clientToken"),
        ({"clientToken": "too-short"}, "clientToken"),
        ({"kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/" + "a" * 2048}, "kmsKeyArn"),
    ],
)
def test_over_long_or_malformed_strings(agentcore, extra, field):
    _bad_field(agentcore, start_request("strings") | extra, field)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"dataSourceConfig": {}}, "dataSourceConfig"),
        ({"dataSourceConfig": {"cloudWatchLogs": CLOUDWATCH} | ONLINE}, "dataSourceConfig"),
        ({"outputConfig": {}}, "outputConfig"),
        ({"evaluationMetadata": {}}, "evaluationMetadata"),
    ],
)
def test_unions_with_zero_or_two_members(agentcore, extra, field):
    _bad_field(agentcore, start_request("unions") | extra, field)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"evaluators": [{"evaluatorId": f"Builtin.E{n}"} for n in range(11)]}, "evaluators"),
        ({"tags": {f"k{n}": "v" for n in range(51)}}, "tags"),
        (
            {"dataSourceConfig": {"cloudWatchLogs": CLOUDWATCH | {"serviceNames": ["a", "b"]}}},
            "dataSourceConfig.cloudWatchLogs.serviceNames",
        ),
        (
            {
                "dataSourceConfig": {
                    "cloudWatchLogs": CLOUDWATCH | {"logGroupNames": [f"/g{n}" for n in range(11)]}
                }
            },
            "dataSourceConfig.cloudWatchLogs.logGroupNames",
        ),
    ],
)
def test_oversize_lists(agentcore, extra, field):
    _bad_field(agentcore, start_request("lists") | extra, field)


def test_a_missing_required_member(agentcore):
    request = start_request("no_source")
    del request["dataSourceConfig"]
    _bad_field(agentcore, request, "dataSourceConfig")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"insights": [{"insightId": "Builtin.Insight.FailureAnalysis"}]}, "insights"),
        ({"dataSourceConfig": ONLINE}, "dataSourceConfig.onlineEvaluationConfigSource"),
    ],
)
def test_features_not_supported_yet_are_rejected_not_ignored(agentcore, extra, field):
    response = _bad_field(agentcore, start_request("unsupported") | extra, field)
    assert "not supported" in response["Error"]["Message"]


@pytest.mark.parametrize("job_id", ["has space-abcdefghij", "x", "a" * 120 + "-abcdefghij"])
def test_malformed_ids_in_the_path(agentcore, job_id):
    with no_state_change(agentcore), pytest.raises(agentcore.exceptions.ValidationException) as exc:
        agentcore.get_batch_evaluation(batchEvaluationId=job_id)
    assert [field["name"] for field in exc.value.response["fieldList"]] == ["batchEvaluationId"]


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b'{"batchEvaluationName": "x", ', "application/json", "CannotParse"),
        (b"[1, 2]", "application/json", "CannotParse"),
        (b"\xff\xfe\x00", "application/json", "CannotParse"),
        (json.dumps(start_request("plain_text")).encode(), "text/plain", "CannotParse"),
        (json.dumps(start_request("form")).encode(), "application/x-www-form-urlencoded", "CannotParse"),
    ],
)
def test_malformed_bodies_and_wrong_content_types(local_api, agentcore, tenant, body, content_type, reason):
    # Given a correctly signed request whose body is not a JSON object sent as JSON
    with no_state_change(agentcore):
        response = local_api.raw(
            "POST",
            "/evaluations/batch-evaluate",
            body=body,
            headers={"Content-Type": content_type},
            tenant=tenant,
        )
    # Then it is a ValidationException that says the body could not be parsed
    assert response.status == 400
    assert response.error_type == "ValidationException"
    assert response.json()["reason"] == reason
