import pytest

from batcheval.errors import ValidationError
from batcheval.pipeline.settings import PipelineSettings

BASE = {
    "BATCHEVAL_JOBS_TABLE": "jobs",
    "BATCHEVAL_PAYLOAD_BUCKET": "bucket",
    "BATCHEVAL_KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/k",
    "AWS_REGION": "us-east-1",
}


def test_settings_read_the_environment_with_defaults():
    # Given only the required variables and a batch size
    settings = PipelineSettings.from_env({**BASE, "BATCHEVAL_MAX_ITEMS_PER_BATCH": "40"})
    # Then the values are typed and the defaults filled in
    assert settings.max_items_per_batch == 40
    assert settings.discovery == "insights"
    assert settings.state_machine_arn is None
    assert settings.caller_access() is None


def test_a_bad_or_missing_variable_is_named():
    # Given a missing table and a non-numeric batch size, When reading, Then both variables are named
    env = {k: v for k, v in BASE.items() if k != "BATCHEVAL_JOBS_TABLE"} | {
        "BATCHEVAL_MAX_ITEMS_PER_BATCH": "x"
    }
    with pytest.raises(ValidationError) as error:
        PipelineSettings.from_env(env)
    assert {issue.name for issue in error.value.fields} == {
        "BATCHEVAL_JOBS_TABLE",
        "BATCHEVAL_MAX_ITEMS_PER_BATCH",
    }


def test_caller_access_uses_the_service_account():
    settings = PipelineSettings.from_env({**BASE, "BATCHEVAL_SERVICE_ACCOUNT_ID": "123456789012"})
    access = settings.caller_access()
    assert access is not None
    assert access.role_arn("210987654321") == "arn:aws:iam::210987654321:role/batcheval-caller-access"
    assert access.effective_external_id == "batcheval-123456789012"
