"""The settings models on pydantic-settings: what the library now does for us, and its pitfalls closed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as PydanticValidationError

from batcheval.api.settings import ApiSettings
from batcheval.aws import CallerAccess
from batcheval.errors import ValidationError
from batcheval.judges.settings import JudgeSettings
from batcheval.pipeline import settings as pipeline_settings
from batcheval.pipeline.settings import PipelineSettings

REQUIRED = {
    "BATCHEVAL_JOBS_TABLE": "jobs",
    "BATCHEVAL_PAYLOAD_BUCKET": "bucket",
    "BATCHEVAL_KMS_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/k",
    "AWS_REGION": "eu-west-1",
}

# The variables infra sets and operators know: the names must never change.
PIPELINE_VARIABLES = {
    "jobs_table": "BATCHEVAL_JOBS_TABLE",
    "payload_bucket": "BATCHEVAL_PAYLOAD_BUCKET",
    "kms_key_arn": "BATCHEVAL_KMS_KEY_ARN",
    "region": "AWS_REGION",
    "aws_endpoint_url": "BATCHEVAL_AWS_ENDPOINT_URL",
    "partition": "BATCHEVAL_PARTITION",
    "state_machine_arn": "BATCHEVAL_STATE_MACHINE_ARN",
    "evaluators_table": "BATCHEVAL_EVALUATORS_TABLE",
    "discovery": "BATCHEVAL_DISCOVERY",
    "max_sessions": "BATCHEVAL_MAX_SESSIONS",
    "settle_seconds": "BATCHEVAL_SETTLE_SECONDS",
    "lookback_days": "BATCHEVAL_LOOKBACK_DAYS",
    "filter_load_margin_seconds": "BATCHEVAL_FILTER_LOAD_MARGIN_SECONDS",
    "max_items_per_batch": "BATCHEVAL_MAX_ITEMS_PER_BATCH",
    "max_concurrency": "BATCHEVAL_MAX_CONCURRENCY",
    "deadline_safety_ms": "BATCHEVAL_DEADLINE_SAFETY_MS",
    "stop_check_seconds": "BATCHEVAL_STOP_CHECK_SECONDS",
    "evaluator_workers": "BATCHEVAL_EVALUATOR_WORKERS",
    "stranded_grace_seconds": "BATCHEVAL_STRANDED_GRACE_SECONDS",
    "max_active_jobs": "BATCHEVAL_MAX_ACTIVE_JOBS",
    "max_stored_jobs": "BATCHEVAL_MAX_STORED_JOBS",
    "service_account_id": "BATCHEVAL_SERVICE_ACCOUNT_ID",
    "caller_role_name": "BATCHEVAL_CALLER_ROLE_NAME",
    "caller_external_id": "BATCHEVAL_CALLER_EXTERNAL_ID",
}


def test_the_variable_table_is_derived_from_the_model_and_unchanged():
    # Given the model's aliases, When infra reads the field -> variable map, Then it is the known table
    assert pipeline_settings.ENVIRONMENT == PIPELINE_VARIABLES


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BATCHEVAL_MAX_SESSIONS", "0"),
        ("BATCHEVAL_MAX_SESSIONS", "many"),
        ("BATCHEVAL_DISCOVERY", "scan"),
        ("BATCHEVAL_SERVICE_ACCOUNT_ID", "12345"),
        ("BATCHEVAL_MAX_ITEMS_PER_BATCH", "1001"),
    ],
)
def test_a_bad_pipeline_variable_is_named_in_the_error(variable, value):
    # Given one bad variable, When the pipeline reads its settings
    with pytest.raises(ValidationError) as raised:
        PipelineSettings.from_env({**REQUIRED, variable: value})
    # Then the error names that variable, and only it
    assert [issue.name for issue in raised.value.fields] == [variable]
    assert variable in raised.value.message


def test_a_bad_judge_variable_of_the_pipeline_is_named():
    # Given a bad judge quota in the pipeline's environment, When read, Then the judge's variable is named
    with pytest.raises(ValidationError) as raised:
        PipelineSettings.from_env({**REQUIRED, "BATCHEVAL_JUDGE_TOKENS_PER_MINUTE": "-5"})
    assert [issue.name for issue in raised.value.fields] == ["BATCHEVAL_JUDGE_TOKENS_PER_MINUTE"]


def test_a_bad_api_variable_is_the_location_of_pydantics_error():
    # Given a negative quota, When the API reads its settings, Then pydantic's error is at the variable
    with pytest.raises(PydanticValidationError) as raised:
        ApiSettings.from_env({**REQUIRED, "BATCHEVAL_MAX_ACTIVE_JOBS": "-1"})
    assert [problem["loc"] for problem in raised.value.errors()] == [("BATCHEVAL_MAX_ACTIVE_JOBS",)]


def test_a_malformed_service_account_is_named_by_caller_access():
    with pytest.raises(ValueError, match="BATCHEVAL_SERVICE_ACCOUNT_ID"):
        CallerAccess.from_env({"BATCHEVAL_SERVICE_ACCOUNT_ID": "alice"})


@pytest.mark.parametrize("model", [ApiSettings, PipelineSettings])
def test_aws_region_falls_back_to_aws_default_region_and_empty_counts_as_unset(model):
    # Given AWS_REGION empty and AWS_DEFAULT_REGION set (the library's alias choices and ignore-empty)
    env = {**REQUIRED, "AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-southeast-2", "BATCHEVAL_PARTITION": ""}
    # When read, Then the fallback is used and the empty partition keeps its default
    settings = model.from_env(env)
    assert (settings.region, settings.partition) == ("ap-southeast-2", "aws")
    # And AWS_REGION wins when both are set
    assert model.from_env({**env, "AWS_REGION": "eu-west-1"}).region == "eu-west-1"


def test_a_missing_region_is_named_as_aws_region():
    env = {k: v for k, v in REQUIRED.items() if k != "AWS_REGION"}
    with pytest.raises(ValidationError) as raised:
        PipelineSettings.from_env(env)
    assert [issue.name for issue in raised.value.fields] == ["AWS_REGION"]


def test_variable_names_are_case_sensitive():
    # Given a lower-case spelling of a variable (pydantic-settings would match it by default)
    env = {**REQUIRED, "batcheval_max_sessions": "7", "Batcheval_Judge_Max_In_Flight": "3"}
    # When read, Then it is not the variable: the defaults stand
    settings = PipelineSettings.from_env(env)
    assert (settings.max_sessions, settings.judge.max_in_flight) == (10_000, 16)


def test_no_dotenv_file_is_read(tmp_path, monkeypatch):
    # Given a .env file in the working directory naming the missing table and a batch size
    (tmp_path / ".env").write_text("BATCHEVAL_JOBS_TABLE=from-dotenv\nBATCHEVAL_MAX_ITEMS_PER_BATCH=40\n")
    monkeypatch.chdir(tmp_path)
    env = {k: v for k, v in REQUIRED.items() if k != "BATCHEVAL_JOBS_TABLE"}
    # When read, Then the file is ignored: the table is still missing
    with pytest.raises(ValidationError) as raised:
        PipelineSettings.from_env(env)
    assert [issue.name for issue in raised.value.fields] == ["BATCHEVAL_JOBS_TABLE"]


def test_a_nested_model_is_never_parsed_from_a_variable_named_after_it():
    # Given variables named like the nested judge field, one not even JSON (pydantic-settings parses
    # complex fields from JSON by default)
    env = {**REQUIRED, "judge": "{not json", "JUDGE": '{"spec": "openai:http://x/v1"}'}
    # When read, Then they are ignored: the judge comes from its own variables only
    settings = PipelineSettings.from_env({**env, "BATCHEVAL_JUDGE_MODEL_ID": "m"})
    assert (settings.judge.spec, settings.judge.model_id) == ("bedrock", "m")


def test_unknown_variables_are_ignored():
    settings = PipelineSettings.from_env({**REQUIRED, "BATCHEVAL_NO_SUCH_KNOB": "1", "PATH": "/bin"})
    assert settings.jobs_table == "jobs"


def test_from_env_reads_the_process_environment_but_keywords_read_nothing(monkeypatch):
    # Given the process environment with every required variable and a session cap
    for name, value in {**REQUIRED, "BATCHEVAL_MAX_SESSIONS": "7", "BATCHEVAL_JUDGE_SPEC": "x"}.items():
        monkeypatch.setenv(name, value)
    # When read at a cold start, Then the environment is used
    assert PipelineSettings.from_env().max_sessions == 7
    # When built from keywords (tests, the local runtime), Then it holds only what it was given
    built = PipelineSettings(jobs_table="t", payload_bucket="b", kms_key_arn="k", region="r")
    assert (built.max_sessions, built.judge.spec) == (10_000, "bedrock")
    assert JudgeSettings().spec == "bedrock"


def test_the_openai_key_prefers_ours_then_the_sdk_variable_and_never_shows():
    # Given both key variables, ours empty, When read, Then the SDK's variable is the fallback
    settings = JudgeSettings.from_env({"BATCHEVAL_OPENAI_API_KEY": "", "OPENAI_API_KEY": "sk-sdk"})
    assert settings.api_key() == "sk-sdk"
    # Given both set, Then ours wins
    both = {"BATCHEVAL_OPENAI_API_KEY": "sk-ours", "OPENAI_API_KEY": "sk-sdk"}
    assert JudgeSettings.from_env(both).api_key() == "sk-ours"
    # And the key is never printed with the settings (they are logged and shown in tracebacks)
    assert "sk-ours" not in repr(JudgeSettings.from_env(both))
    assert "sk-ours" not in repr(PipelineSettings.from_env({**REQUIRED, **both}))


def test_a_validation_error_does_not_echo_the_values():
    # Given a bad value next to a secret, When the error is printed, Then neither value appears in it
    with pytest.raises(ValidationError) as raised:
        JudgeSettings.from_env({"OPENAI_API_KEY": "sk-secret", "BATCHEVAL_JUDGE_TIMEOUT_S": "soon"})
    chained = raised.value.__cause__
    assert chained is not None
    assert "sk-secret" not in str(chained)
    assert "soon" not in str(chained)
    assert [issue.name for issue in raised.value.fields] == ["BATCHEVAL_JUDGE_TIMEOUT_S"]


def test_the_backend_model_variable_applies_to_its_backend_only():
    env = {"BATCHEVAL_BEDROCK_MODEL_ID": "us.amazon.nova-lite-v1:0", "BATCHEVAL_OPENAI_MODEL": "qwen"}
    settings = JudgeSettings.from_env(env)
    assert settings.default_model_for("bedrock") == "us.amazon.nova-lite-v1:0"
    assert settings.default_model_for("openai:http://localhost:1/v1") == "qwen"
    assert settings.default_model_for("gpt") is None
