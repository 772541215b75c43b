"""The JobService the handlers use: built once per process (cold start), replaceable for tests.

`settings_and_clients()` is the process's one read of `ApiSettings` and its one `AwsClients`, shared
by the service and the scheduled start's ledger.

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

_lock = threading.RLock()
_service: JobService | None = None
_shared: tuple[ApiSettings, AwsClients] | None = None


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


def settings_and_clients() -> tuple[ApiSettings, AwsClients]:
    """This process's settings and AWS clients, read and built once: every handler shares them."""
    global _shared
    with _lock:
        if _shared is None:
            settings = ApiSettings.from_env()
            _shared = settings, AwsClients(region=settings.region, endpoint_url=settings.aws_endpoint_url)
        return _shared


def get_service() -> JobService:
    global _service
    with _lock:
        if _service is None:
            settings, clients = settings_and_clients()
            _service = build_service(settings, clients=clients)
        return _service


def use(service: JobService | None) -> None:
    """Install `service` for every handler in this process (None = build from the environment)."""
    global _service
    with _lock:
        _service = service


def reset() -> None:
    """Forget the cached service, settings and clients: the next request reads the environment again."""
    global _shared
    with _lock:
        _shared = None
    use(None)
