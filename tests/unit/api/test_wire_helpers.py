from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError as PydanticValidationError

from batcheval.api.errors import error_body, field_path, validation_error
from batcheval.api.models import StartBatchEvaluationRequest, format_timestamp
from batcheval.api.settings import ApiSettings
from batcheval.api.tenancy import owner_from_event
from batcheval.errors import AccessDeniedError, ConflictError, FieldIssue, ValidationError


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (("evaluators", 0, "evaluatorId"), "evaluators[0].evaluatorId"),
        (
            ("dataSourceConfig", "cloudWatchLogs", "serviceNames", 2),
            "dataSourceConfig.cloudWatchLogs.serviceNames[2]",
        ),
        (("tags", "team", "[key]"), "tags.team"),
        ((), ""),
    ],
)
def test_field_path_names_fields_like_the_service(location, expected):
    assert field_path(location) == expected


def test_validation_error_names_every_bad_field():
    # Given a request with two bad fields
    with pytest.raises(PydanticValidationError) as caught:
        StartBatchEvaluationRequest.model_validate(
            {"batchEvaluationName": "9", "dataSourceConfig": {"cloudWatchLogs": {"serviceNames": ["a", "b"]}}}
        )

    # When converting it
    error = validation_error(caught.value)

    # Then both are named, with FieldValidationFailed
    assert error.reason == "FieldValidationFailed"
    assert [issue.name for issue in error.fields] == [
        "batchEvaluationName",
        "dataSourceConfig.cloudWatchLogs.serviceNames",
    ]


def test_error_bodies():
    validation = ValidationError("bad", fields=[FieldIssue("a", "m")])
    assert error_body(validation) == {
        "message": "bad",
        "reason": "FieldValidationFailed",
        "fieldList": [{"name": "a", "message": "m"}],
    }
    assert error_body(ConflictError("taken")) == {"message": "taken"}


def test_timestamps_are_utc_with_z():
    plus_two = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2026, 11, 26, 7, 0, tzinfo=plus_two)) == "2026-11-26T05:00:00Z"
    assert format_timestamp(datetime(2026, 11, 26, 5, 0, 0, 120, tzinfo=UTC)) == "2026-11-26T05:00:00.000120Z"


def test_owner_comes_from_the_iam_identity():
    event = {"requestContext": {"accountId": "999999999999", "identity": {"accountId": "111111111111"}}}
    assert owner_from_event(event) == "111111111111"
    for bad in (
        {},
        {"requestContext": {"identity": {"accountId": "not-an-account"}}},
        # requestContext.accountId is the API owner's account, never the caller's
        {"requestContext": {"accountId": "999999999999", "identity": {}}},
    ):
        with pytest.raises(AccessDeniedError):
            owner_from_event(bad)


def test_settings_from_environment():
    # Given the Lambda environment
    env = {
        "BATCHEVAL_JOBS_TABLE": "t",
        "BATCHEVAL_PAYLOAD_BUCKET": "b",
        "BATCHEVAL_KMS_KEY_ARN": "arn:aws:kms:eu-west-1:111111111111:key/k",
        "AWS_REGION": "eu-west-1",
        "BATCHEVAL_MAX_ACTIVE_JOBS": "7",
    }

    # When reading settings / Then defaults fill the rest
    settings = ApiSettings.from_env(env)
    assert (settings.region, settings.max_active_jobs, settings.max_stored_jobs) == ("eu-west-1", 7, 2000)
    assert settings.partition == "aws"
    assert settings.aws_endpoint_url is None

    # And a missing table is a startup error, not a default
    with pytest.raises(PydanticValidationError):
        ApiSettings.from_env({k: v for k, v in env.items() if k != "BATCHEVAL_JOBS_TABLE"})
