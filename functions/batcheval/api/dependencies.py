"""The JobService the handlers use: built once per process (cold start), replaceable for tests.

`reset()` drops the cached service so the next request reads the environment again (the local
server and tests call it after changing `BATCHEVAL_*` variables); `use(service)` installs a
ready-made one (e.g. with a real pipeline starter).
"""

from __future__ import annotations

import threading

from batcheval.api.settings import ApiSettings
from batcheval.aws import AwsClients
from batcheval.evaluators.factory import check_registered_ids
from batcheval.jobs.ledger import RunLedger
from batcheval.jobs.page_tokens import PageTokenCodec
from batcheval.jobs.payloads import PayloadStore
from batcheval.jobs.service import JobService
from batcheval.jobs.starter import JobStarter, NoOpStarter, StepFunctionsStarter
from batcheval.jobs.store import JobStore

_lock = threading.Lock()
_service: JobService | None = None


def build_service(
    settings: ApiSettings, *, starter: JobStarter | None = None, clients: AwsClients | None = None
) -> JobService:
    """A JobService for `settings`; `clients` defaults to new ones for the settings' Region/endpoint.

    Jobs run on the Step Functions pipeline when `BATCHEVAL_STATE_MACHINE_ARN` is set (else they stay
    PENDING: NoOpStarter), unless a `starter` is given.
    """
    clients = clients or AwsClients(region=settings.region, endpoint_url=settings.aws_endpoint_url)
    kms = clients.client("kms")
    if starter is None and settings.state_machine_arn:
        starter = StepFunctionsStarter(clients.client("stepfunctions"), settings.state_machine_arn)
    dynamodb = clients.client("dynamodb")
    return JobService(
        store=JobStore(dynamodb, settings.jobs_table),
        ledger=RunLedger(dynamodb, settings.jobs_table),
        payloads=PayloadStore(clients.client("s3"), kms, settings.payload_bucket),
        page_tokens=PageTokenCodec(kms, settings.kms_key_arn),
        starter=starter or NoOpStarter(),
        region=settings.region,
        partition=settings.partition,
        default_kms_key_arn=settings.kms_key_arn,
        max_active_jobs=settings.max_active_jobs,
        max_stored_jobs=settings.max_stored_jobs,
        evaluator_check=check_registered_ids,
    )


def get_service() -> JobService:
    global _service
    with _lock:
        if _service is None:
            _service = build_service(ApiSettings.from_env())
        return _service


def use(service: JobService | None) -> None:
    """Install `service` for every handler in this process (None = build from the environment)."""
    global _service
    with _lock:
        _service = service


def reset() -> None:
    """Forget the cached service: the next request builds a new one from the environment."""
    use(None)
