"""Job ids and ARNs in the service's formats."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
SUFFIX_LENGTH = 10


def new_job_id(name: str) -> str:
    """`<batchEvaluationName>-<10 alphanumerics>`, matching botocore's BatchEvaluationId pattern.

    Unpredictable on purpose (ids are guessable handles otherwise), so drawn from `secrets`.
    """
    return f"{name}-{''.join(secrets.choice(_ALPHABET) for _ in range(SUFFIX_LENGTH))}"


def job_arn(*, partition: str, region: str, account: str, job_id: str) -> str:
    return f"arn:{partition}:bedrock-agentcore:{region}:{account}:batch-evaluate/{job_id}"
