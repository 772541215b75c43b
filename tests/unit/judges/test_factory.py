from __future__ import annotations

from typing import Any, cast

import boto3
import pytest
from botocore.stub import Stubber

from batcheval.aws import AwsClients
from batcheval.errors import JudgeError, ValidationError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import Judge, JudgeRequest
from batcheval.judges.factory import default_bedrock_model_id, make_judge
from batcheval.judges.openai_compat import OpenAICompatJudge
from batcheval.judges.ratelimit import RateLimitedJudge
from batcheval.judges.retry import RetryingJudge
from batcheval.judges.settings import JudgeSettings, build_judge

REQUEST = JudgeRequest(system="s", prompt="p", output_schema={"type": "object"})


@pytest.mark.parametrize(
    ("region", "model"),
    [
        ("us-west-2", "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("eu-central-1", "eu.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("ap-northeast-1", "apac.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("sa-east-1", "global.anthropic.claude-haiku-4-5-20251001-v1:0"),
    ],
)
def test_default_bedrock_model_is_haiku_via_the_geography_profile(region, model):
    assert default_bedrock_model_id(region) == model


def _clients() -> AwsClients:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1")
    return AwsClients(region="eu-west-1", session=session)


def test_bedrock_judge_is_retrying_rate_limited_and_botocore_retries_are_off():
    # Given AWS clients in eu-west-1 and a TPM limit
    clients = _clients()
    ledger = JudgeLedger()
    # When the Bedrock judge is made
    judge = make_judge("bedrock", clients=clients, tokens_per_minute=400_000, ledger=ledger)
    # Then it is Retrying(RateLimited(Bedrock)) on the EU Haiku profile, on a client without botocore retries
    assert isinstance(judge, RetryingJudge)
    assert isinstance(judge.inner, RateLimitedJudge)
    client = clients.client("bedrock-runtime", total_max_attempts=1, read_timeout=60.0)
    assert cast(Any, client.meta.config).retries["total_max_attempts"] == 1
    assert judge.inner.limiter.current_rate("eu.anthropic.claude-haiku-4-5-20251001-v1:0") == pytest.approx(
        360_000
    )
    # And a call goes through end to end, recorded in the ledger
    with Stubber(client) as stub:
        stub.add_response(
            "converse",
            {
                "output": {
                    "message": {
                        "role": "assistant",
                        "content": [
                            {"toolUse": {"toolUseId": "1", "name": "submit_verdict", "input": {"a": 1}}}
                        ],
                    }
                },
                "stopReason": "tool_use",
                "usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12},
                "metrics": {"latencyMs": 5},
            },
        )
        assert judge.judge(REQUEST).output == {"a": 1}
    assert ledger.snapshot()["eu.anthropic.claude-haiku-4-5-20251001-v1:0"].quota_tokens == 20


def test_openai_judge_takes_model_and_key_from_the_environment_through_its_settings():
    # Given only environment configuration (the model and key variables the factory once read itself)
    env = {
        "BATCHEVAL_JUDGE_SPEC": "openai:http://localhost:11434/v1",
        "BATCHEVAL_OPENAI_MODEL": "qwen2.5:7b",
        "OPENAI_API_KEY": "sk-env",
    }
    # When made from the function's judge settings
    judge = build_judge(JudgeSettings.from_env(env), _clients())
    # Then the backend targets the chat completions URL with the env model and key
    assert isinstance(judge, RetryingJudge)
    assert isinstance(judge.inner, RateLimitedJudge)
    backend = judge.inner.inner
    assert isinstance(backend, OpenAICompatJudge)
    assert backend.url == "http://localhost:11434/v1/chat/completions"
    assert backend.model_id == "qwen2.5:7b"
    assert backend._api_key == "sk-env"
    assert isinstance(judge, Judge)


def test_the_factory_reads_no_environment(monkeypatch):
    # Given the variables the factory used to fall back to, set in the process environment
    monkeypatch.setenv("BATCHEVAL_OPENAI_MODEL", "from-env")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    # When a judge is made without a model or clients, Then nothing is taken from them: the missing
    # values are errors, and `env` is no longer an option
    with pytest.raises(ValidationError, match="model name"):
        make_judge("openai:http://localhost:8000/v1")
    with pytest.raises(ValidationError, match="AWS clients"):
        make_judge("bedrock")
    with pytest.raises(ValidationError, match="env"):
        make_judge("openai:http://localhost:8000/v1", model_id="m", env={})


def test_openai_judge_without_model_is_a_validation_error():
    with pytest.raises(ValidationError, match="BATCHEVAL_OPENAI_MODEL"):
        make_judge("openai:http://localhost:8000/v1")


@pytest.mark.parametrize("spec", ["gpt", "openai:localhost:8000", ""])
def test_bad_specs_are_validation_errors(spec):
    with pytest.raises(ValidationError):
        make_judge(spec, model_id="m")


def test_unknown_option_is_named():
    with pytest.raises(ValidationError, match="tpm"):
        make_judge("bedrock", clients=_clients(), tpm=5)


def test_unreachable_openai_server_becomes_a_judge_error_within_the_budget():
    # Given a server that does not exist and a tight retry budget
    from batcheval.judges.retry import RetryPolicy

    judge = make_judge(
        "openai:http://127.0.0.1:9/v1",
        model_id="m",
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.01),
    )
    # When / Then the call ends as JudgeUnavailable, not a hang
    with pytest.raises(JudgeError) as raised:
        judge.judge(REQUEST)
    assert raised.value.code == "JudgeUnavailable"


def test_tpm_applies_to_each_model_the_judge_is_asked_for():
    # Given an OpenAI-compatible judge with a TPM limit
    judge = make_judge("openai:http://localhost:1/v1", model_id="m", tokens_per_minute=120_000)
    assert isinstance(judge, RetryingJudge)
    assert isinstance(judge.inner, RateLimitedJudge)
    limiter = judge.inner.limiter
    # When asked about the default model and another model (a derived evaluator's override)
    # Then both are limited, each with its own bucket
    assert limiter.current_rate("m") == pytest.approx(108_000)
    assert limiter.current_rate("other-model") == pytest.approx(108_000)


@pytest.mark.parametrize(("option", "value"), [("tool_choice", "forced"), ("output_mode", "xml")])
def test_bad_structured_output_option_is_rejected_up_front(option, value):
    with pytest.raises(ValidationError, match=option):
        make_judge("openai:http://localhost:1/v1", model_id="m", **{option: value})
