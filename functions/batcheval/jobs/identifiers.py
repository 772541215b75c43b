"""Job ids and ARNs in the service's formats."""

from __future__ import annotations

import hashlib
import re
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


EXECUTION_NAME_MAX = 80
_NAME_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")


def execution_name(owner: str, job_id: str, attempt: str = "") -> str:
    """The Step Functions execution name of a job's run: deterministic, ≤ 80 chars of `[0-9A-Za-z_-]`.

    A readable prefix of the job id plus a hash of owner and job id, so a repeated StartExecution for
    the same job names the same execution (harmless) and two owners' equal job ids never collide.
    `attempt` names a later run of the same job (a retry of its failed sessions).
    """
    seed = f"{owner}/{job_id}/{attempt}" if attempt else f"{owner}/{job_id}"
    digest = hashlib.sha256(seed.encode()).hexdigest()[:24]
    prefix = _NAME_UNSAFE.sub("_", job_id)[: EXECUTION_NAME_MAX - len(digest) - 1]
    return f"{prefix}-{digest}"


def derived_job_id(name: str, seed: str) -> str:
    """`<name>-<10 alphanumerics>` derived from `seed` (a console run's execution ARN).

    A retried first step of the same execution then finds the job it created, and a finalizer that
    only knows the execution's input can name the job again.
    """
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big")
    suffix = ""
    for _ in range(SUFFIX_LENGTH):
        number, index = divmod(number, len(_ALPHABET))
        suffix += _ALPHABET[index]
    return f"{name}-{suffix}"
