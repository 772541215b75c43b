from __future__ import annotations

import boto3
import pytest

from batcheval.aws import AwsClients
from batcheval.errors import ValidationError
from batcheval.judges.leases_dynamodb import DynamoDBSlotLeases
from batcheval.judges.ratelimit import RateLimitedJudge
from batcheval.judges.ratelimit_dynamodb import DynamoDBBucketStore
from batcheval.judges.retry import RetryingJudge
from batcheval.judges.settings import JudgeSettings, build_judge


def test_settings_read_from_env_and_build_a_shared_limited_judge():
    # Given a Lambda environment naming a Bedrock model, its quota and the bucket table
    env = {
        "BATCHEVAL_JUDGE_MODEL_ID": "us.amazon.nova-lite-v1:0",
        "BATCHEVAL_JUDGE_TOKENS_PER_MINUTE": "2000000",
        "BATCHEVAL_JUDGE_BUCKET_TABLE": "judge-buckets",
        "UNRELATED": "x",
    }
    settings = JudgeSettings.from_env(env)
    assert settings.tokens_per_minute == 2_000_000
    # When the judge is built
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    judge = build_judge(settings, AwsClients(session=session))
    # Then it is limited through the DynamoDB bucket store at the configured quota
    assert isinstance(judge, RetryingJudge)
    assert isinstance(judge.inner, RateLimitedJudge)
    assert isinstance(judge.inner.limiter._store, DynamoDBBucketStore)
    # and its in-flight cap is shared through slot leases that outlive a 60 s call (60 + 60 + 30 s)
    leases = judge.inner.limiter._leases
    assert isinstance(leases, DynamoDBSlotLeases)
    assert leases._ttl == 150.0
    limits = judge.inner.limiter.limits_for("us.amazon.nova-lite-v1:0")
    assert limits is not None
    assert limits.tokens_per_minute == 2_000_000


def test_bad_settings_name_the_variable():
    with pytest.raises(ValidationError) as raised:
        JudgeSettings.from_env({"BATCHEVAL_JUDGE_MAX_IN_FLIGHT": "0"})
    assert [issue.name for issue in raised.value.fields] == ["BATCHEVAL_JUDGE_MAX_IN_FLIGHT"]


def test_defaults_are_bedrock_without_a_quota():
    settings = JudgeSettings.from_env({})
    assert (settings.spec, settings.tokens_per_minute, settings.bucket_table) == ("bedrock", None, None)


def test_burn_factor_setting_reaches_the_limiter_for_an_opaque_profile_arn():
    # Given Claude behind an application inference profile (the ARN does not name the model)
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
    env = {
        "BATCHEVAL_JUDGE_MODEL_ID": arn,
        "BATCHEVAL_JUDGE_TOKENS_PER_MINUTE": "400000",
        "BATCHEVAL_JUDGE_BURN_FACTOR": "5",
    }
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    # When the judge is built from the settings
    judge = build_judge(JudgeSettings.from_env(env), AwsClients(session=session))
    # Then the limiter weighs output tokens 5x for it (the id alone would give 1x)
    assert isinstance(judge, RetryingJudge)
    assert isinstance(judge.inner, RateLimitedJudge)
    limits = judge.inner.limiter.limits_for(arn)
    assert limits is not None
    assert limits.burn_factor == 5.0
