"""The judge of a local run (`serve`, `demo`): the one place it is wired, on real endpoints.

Everything else of a local run may sit on the embedded emulator, but the emulator has no model:
the judge's clients are built here on real AWS (the standard credential chain, profile and region of
the shell, resolved before the handlers' emulator credentials replace them in the environment), or
it is an OpenAI-compatible server. Without `--judge` the judge is `UnconfiguredJudge`: every LLM
result is an explicit `JudgeNotConfigured` error naming the flag, and nothing calls the emulator.
"""

from __future__ import annotations

import os

import boto3

from batcheval.aws import AwsClients
from batcheval.errors import JudgeError, ValidationError
from batcheval.judges.base import Judge, JudgeRequest, JudgeResponse
from batcheval.judges.settings import JudgeSettings, build_judge

ENABLE_HINT = "--judge bedrock (AWS credentials) or --judge openai:URL --model MODEL"
NOT_CONFIGURED = f"no judge is configured for this local run; start it with {ENABLE_HINT}"
NO_CREDENTIALS = (
    "--judge bedrock needs AWS credentials for Amazon Bedrock and none were found in the standard "
    "chain: set AWS_PROFILE=<profile> (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), "
    "or use --judge openai:URL --model MODEL"
)


class UnconfiguredJudge:
    """Answers nothing: each call is a `JudgeNotConfigured` error that names the enabling flag."""

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        raise JudgeError("JudgeNotConfigured", NOT_CONFIGURED)


def judge_clients() -> AwsClients:
    """Clients on real AWS for the judge (never the emulator); credentials and region resolved now.

    The region is `AWS_REGION`, else the profile's / `AWS_DEFAULT_REGION`, else us-east-1.

    Raises:
        ValidationError: no credentials in the chain (said before any job starts).
    """
    session = boto3.Session()
    if session.get_credentials() is None:
        raise ValidationError(NO_CREDENTIALS)
    region = os.environ.get("AWS_REGION") or session.region_name or "us-east-1"
    return AwsClients(region=region, session=session)


def local_judge(spec: str | None, model_id: str | None) -> Judge:
    """The judge for `--judge SPEC --model MODEL` (None: `UnconfiguredJudge`).

    From the shell's environment it takes the backend's model variable (`BATCHEVAL_BEDROCK_MODEL_ID`,
    `BATCHEVAL_OPENAI_MODEL`) when `--model` is not given, the OpenAI API key and the TPM quota;
    the other `BATCHEVAL_JUDGE_*` settings keep their defaults (16 in flight, in-process limits).
    """
    if spec is None:
        return UnconfiguredJudge()
    shell = JudgeSettings.from_env()
    settings = JudgeSettings(
        spec=spec,
        model_id=model_id,
        tokens_per_minute=shell.tokens_per_minute,
        bedrock_model_id=shell.bedrock_model_id,
        openai_model=shell.openai_model,
        openai_api_key=shell.openai_api_key,
    )
    clients = judge_clients() if spec == "bedrock" else AwsClients()
    return build_judge(settings, clients)
