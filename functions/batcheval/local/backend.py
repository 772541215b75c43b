"""The AWS side of a local run: where the handlers' table, bucket and key live, and how they find them.

Handlers read their settings from environment variables at cold start, exactly as in Lambda, so
running them in-process means setting those variables (`handler_environment`) and dropping any
service they cached (`batcheval.api.dependencies.reset()`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from batcheval.aws import AwsClients
from batcheval.errors import ValidationError
from batcheval.jobs.resources import ensure_job_resources

DEFAULT_TABLE_NAME = "batcheval-jobs"
DEFAULT_BUCKET_NAME = "batcheval-payloads"

ENV_JOBS_TABLE = "BATCHEVAL_JOBS_TABLE"
ENV_PAYLOAD_BUCKET = "BATCHEVAL_PAYLOAD_BUCKET"
ENV_KMS_KEY_ARN = "BATCHEVAL_KMS_KEY_ARN"
ENV_AWS_ENDPOINT_URL = "BATCHEVAL_AWS_ENDPOINT_URL"
ENV_MAX_ACTIVE_JOBS = "BATCHEVAL_MAX_ACTIVE_JOBS"
ENV_MAX_STORED_JOBS = "BATCHEVAL_MAX_STORED_JOBS"

_LOCAL_DEFAULTS = {
    # No X-Ray daemon locally; Powertools' tracer becomes a no-op.
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@dataclass(frozen=True)
class Backend:
    """The resources the job handlers use, and clients that reach them."""

    region: str
    endpoint_url: str | None
    """None means real AWS (the default credential chain); else an emulator's URL."""
    table_name: str
    bucket_name: str
    kms_key_arn: str
    clients: AwsClients = field(repr=False, compare=False)
    credentials: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    """Environment credentials the in-process handlers need (fake ones for the emulator; None = unset)."""

    @property
    def embedded(self) -> bool:
        return bool(self.credentials)

    def handler_environment(
        self, *, max_active_jobs: int | None = None, max_stored_jobs: int | None = None
    ) -> dict[str, str | None]:
        """The Lambda environment the handlers would get from the stack, pointing at this backend."""
        env: dict[str, str | None] = {
            ENV_JOBS_TABLE: self.table_name,
            ENV_PAYLOAD_BUCKET: self.bucket_name,
            ENV_KMS_KEY_ARN: self.kms_key_arn,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **self.credentials,
        }
        if self.endpoint_url is not None:
            env[ENV_AWS_ENDPOINT_URL] = self.endpoint_url
        if max_active_jobs is not None:
            env[ENV_MAX_ACTIVE_JOBS] = str(max_active_jobs)
        if max_stored_jobs is not None:
            env[ENV_MAX_STORED_JOBS] = str(max_stored_jobs)
        return env


def connect_backend(
    *,
    region: str,
    endpoint_url: str | None,
    table_name: str,
    bucket_name: str,
    kms_key_arn: str | None,
    create_resources: bool = False,
) -> Backend:
    """Use existing resources on real AWS (`endpoint_url=None`) or an external emulator.

    Nothing is created unless `create_resources` is set: then the table and bucket are created
    when missing, and a KMS key too when `kms_key_arn` is None.
    """
    clients = AwsClients(region=region, endpoint_url=endpoint_url)
    if create_resources:
        ensure_job_resources(clients, table_name=table_name, bucket_name=bucket_name)
        if kms_key_arn is None:
            kms_key_arn = create_stack_key(clients)
    if kms_key_arn is None:
        raise ValidationError("a KMS key ARN is required (or ask for resources to be created)")
    return Backend(
        region=region,
        endpoint_url=endpoint_url,
        table_name=table_name,
        bucket_name=bucket_name,
        kms_key_arn=kms_key_arn,
        clients=clients,
    )


def create_stack_key(clients: AwsClients) -> str:
    """Create the symmetric key that stands in for the stack's KMS key; return its ARN."""
    key = clients.client("kms").create_key(
        Description="batcheval stack key (local runtime)", KeyUsage="ENCRYPT_DECRYPT"
    )
    arn: str = key["KeyMetadata"]["Arn"]
    return arn


CACHED_BY_HANDLERS = ("batcheval.api.dependencies", "batcheval.pipeline.runtime")
"""Modules that cache what handlers build at cold start; each has a `reset()`."""


def reset_handler_dependencies() -> None:
    """Drop what the handlers cached so the next call reads the environment again (a cold start)."""
    for name in CACHED_BY_HANDLERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue  # no such handler in this build: nothing cached
        module.reset()


@contextmanager
def handler_environment(env: Mapping[str, str | None]) -> Iterator[None]:
    """Set `env` (None = unset; plus local Powertools defaults) for in-process handlers; restore on exit."""
    wanted: dict[str, str | None] = {k: v for k, v in _LOCAL_DEFAULTS.items() if k not in os.environ}
    wanted.update(env)
    saved = {key: os.environ.get(key) for key in wanted}
    _set_environment(wanted)
    reset_handler_dependencies()
    try:
        yield
    finally:
        _set_environment(saved)
        reset_handler_dependencies()


def _set_environment(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
