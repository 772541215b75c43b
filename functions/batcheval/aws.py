"""The one place AWS clients are created; everything else receives them injected.

The same code then runs against AWS, the embedded emulator (an `endpoint_url`) and tests.
`OwnerClients` gives the pipeline clients for a job owner's account: the service's own clients
for its own account, otherwise clients on a role assumed in the owner's account.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.exceptions import ClientError
from pydantic import Field

from batcheval.errors import CallerRoleError
from batcheval.settings import EnvironmentSettings

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient


@dataclass
class AwsClients:
    """A lazily filled, thread-safe cache of boto3 clients sharing one session and endpoint."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    session: boto3.Session | None = None
    max_pool_connections: int = 32
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @overload
    def client(
        self,
        service: Literal["bedrock-runtime"],
        *,
        total_max_attempts: int | None = None,
        read_timeout: float | None = None,
    ) -> BedrockRuntimeClient: ...
    @overload
    def client(
        self,
        service: Literal["dynamodb"],
        *,
        total_max_attempts: int | None = None,
        read_timeout: float | None = None,
    ) -> DynamoDBClient: ...
    @overload
    def client(
        self,
        service: Literal["kms"],
        *,
        total_max_attempts: int | None = None,
        read_timeout: float | None = None,
    ) -> KMSClient: ...
    @overload
    def client(
        self,
        service: Literal["lambda"],
        *,
        total_max_attempts: int | None = None,
        read_timeout: float | None = None,
    ) -> LambdaClient: ...
    @overload
    def client(
        self,
        service: Literal["logs"],
        *,
        total_max_attempts: int | None = None,
        read_timeout: float | None = None,
    ) -> CloudWatchLogsClient: ...
    @overload
    def client(
        self,
        service: Literal["s3"],
        *,
        total_max_attempts: int | None = None,
        read_timeout: float | None = None,
    ) -> S3Client: ...
    @overload
    def client(
        self,
        service: Literal["stepfunctions"],
        *,
        total_max_attempts: int | None = None,
        read_timeout: float | None = None,
    ) -> SFNClient: ...
    @overload
    def client(
        self,
        service: Literal["sts"],
        *,
        total_max_attempts: int | None = None,
        read_timeout: float | None = None,
    ) -> STSClient: ...
    @overload
    def client(
        self, service: str, *, total_max_attempts: int | None = None, read_timeout: float | None = None
    ) -> Any: ...  # a service the runtime does not use (tests: iam), or a name chosen at run time
    def client(
        self, service: str, *, total_max_attempts: int | None = None, read_timeout: float | None = None
    ) -> Any:
        """The cached client for `service`, typed per service by the overloads (boto3-stubs, dev only).

        `total_max_attempts=1` turns botocore's own retries off, for callers that run their own retry
        loop (the judge backends: botocore would otherwise retry throttling underneath them).
        """
        key = f"{service}|{total_max_attempts}|{read_timeout}"
        with self._lock:
            existing = self._clients.get(key)
            if existing is not None:
                return existing
            session = self.session or boto3.Session(region_name=self.region)
            self.session = session
            retries: dict[str, Any] = {"mode": "standard", "max_attempts": 5}
            if total_max_attempts is not None:
                retries = {"mode": "standard", "total_max_attempts": total_max_attempts}
            config = Config(max_pool_connections=self.max_pool_connections, retries=retries)  # type: ignore[arg-type]
            if read_timeout is not None:
                config = config.merge(Config(read_timeout=read_timeout))
            created = session.client(
                service,  # type: ignore[call-overload]
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=config,
            )
            self._clients[key] = created
            return created


DEFAULT_CALLER_ROLE_NAME = "batcheval-caller-access"
ROLE_SESSION_NAME = "batcheval-pipeline"
ROLE_SESSION_SECONDS = 3600
"""One hour: the most STS grants a chained role session (a Lambda's own credentials are a role's)."""
_REFUSALS = {"AccessDenied", "AccessDeniedException", "RegionDisabledException"}
_ACCOUNT = re.compile(r"\d{12}")


@dataclass(frozen=True, slots=True)
class CallerAccess:
    """Who the service is and which role it assumes in a caller's account (read at cold start)."""

    service_account: str
    role_name: str = DEFAULT_CALLER_ROLE_NAME
    external_id: str | None = None
    """None: `batcheval-<service account>`, the CDK default of `callerExternalId`."""
    partition: str = "aws"

    @property
    def effective_external_id(self) -> str:
        return self.external_id or f"batcheval-{self.service_account}"

    def role_arn(self, owner: str) -> str:
        return f"arn:{self.partition}:iam::{owner}:role/{self.role_name}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CallerAccess:
        """`BATCHEVAL_SERVICE_ACCOUNT_ID` (required), `BATCHEVAL_CALLER_ROLE_NAME`,
        `BATCHEVAL_CALLER_EXTERNAL_ID`, `BATCHEVAL_PARTITION` (`CallerAccessSettings`).

        Raises:
            ValueError: the account id is missing or not 12 digits (pydantic's ValidationError is one).
        """
        access = CallerAccessSettings.from_env(environ).caller_access()
        if access is None:
            raise ValueError("BATCHEVAL_SERVICE_ACCOUNT_ID must be a 12-digit account id, got nothing")
        return access


class CallerAccessSettings(EnvironmentSettings, extra="ignore"):
    """The variables of `CallerAccess`; the pipeline's settings model extends it."""

    service_account_id: str | None = Field(
        default=None, pattern=r"^\d{12}$", validation_alias="BATCHEVAL_SERVICE_ACCOUNT_ID"
    )
    """The stack's account: jobs of other owners run on a role assumed in their account. None: every
    owner is served with the service's own credentials (a single-account deployment, the emulator)."""
    caller_role_name: str = Field(
        default=DEFAULT_CALLER_ROLE_NAME, validation_alias="BATCHEVAL_CALLER_ROLE_NAME"
    )
    caller_external_id: str | None = Field(default=None, validation_alias="BATCHEVAL_CALLER_EXTERNAL_ID")
    """None: `batcheval-<service account id>` (the CDK default of `callerExternalId`)."""
    partition: str = Field(default="aws", validation_alias="BATCHEVAL_PARTITION")

    def caller_access(self) -> CallerAccess | None:
        if self.service_account_id is None:
            return None
        return CallerAccess(
            service_account=self.service_account_id,
            role_name=self.caller_role_name,
            external_id=self.caller_external_id,
            partition=self.partition,
        )


class _FixedProvider(CredentialProvider):
    """Hands a botocore session the refreshable credentials built for one owner."""

    METHOD = "batcheval-assume-role"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self._credentials


def _now() -> datetime:
    return datetime.now(UTC)


class OwnerClients:
    """`clients_for(owner)`: AwsClients acting in the job owner's account.

    The service's own account gets `own` itself (no STS call). Any other account gets clients on
    `sts:AssumeRole` of `arn:<partition>:iam::<owner>:role/<role name>` with the ExternalId, cached
    per owner. The credentials are botocore `RefreshableCredentials`: botocore re-assumes the role
    when fewer than 15 minutes are left (and blocks for it under 10), so a long batch never uses
    expired credentials. `clock` (an aware datetime source) is for tests.
    """

    def __init__(
        self, own: AwsClients, access: CallerAccess, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self._own = own
        self._access = access
        self._clock = clock
        self._owners: dict[str, AwsClients] = {}
        self._lock = threading.Lock()

    def clients_for(self, owner: str) -> AwsClients:
        """Clients for `owner`'s account; raises CallerRoleError if its role is missing or refuses."""
        if owner == self._access.service_account:
            return self._own
        if not _ACCOUNT.fullmatch(owner):
            raise ValueError(f"owner must be a 12-digit account id, got {owner!r}")
        with self._lock:
            cached = self._owners.get(owner)
            if cached is not None:
                return cached
            fetch = self._fetcher(owner)
            first = fetch()
            credentials = RefreshableCredentials(
                access_key=first["access_key"],
                secret_key=first["secret_key"],
                token=first["token"],
                expiry_time=first["expiry"],
                refresh_using=fetch,
                method=_FixedProvider.METHOD,
                time_fetcher=self._clock,
            )
            session = botocore.session.get_session()
            session.get_component("credential_provider").insert_before("env", _FixedProvider(credentials))
            clients = AwsClients(
                region=self._own.region,
                endpoint_url=self._own.endpoint_url,
                session=boto3.Session(botocore_session=session, region_name=self._own.region),
                max_pool_connections=self._own.max_pool_connections,
            )
            self._owners[owner] = clients
            return clients

    def _fetcher(self, owner: str) -> Callable[[], dict[str, Any]]:
        access = self._access
        role_arn = access.role_arn(owner)

        def fetch() -> dict[str, Any]:
            try:
                answer = self._own.client("sts").assume_role(
                    RoleArn=role_arn,
                    RoleSessionName=ROLE_SESSION_NAME,
                    ExternalId=access.effective_external_id,
                    DurationSeconds=ROLE_SESSION_SECONDS,
                )
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code in _REFUSALS:
                    raise CallerRoleError(_refusal_message(access, owner, code)) from None
                raise
            creds = answer["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry": creds["Expiration"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        return fetch


def _refusal_message(access: CallerAccess, owner: str, code: str) -> str:
    """What the caller must deploy, in the service's words (never STS's message: it names our roles)."""
    if code == "RegionDisabledException":
        cause = "STS is not activated in this Region for the account"
    else:
        cause = (
            "the role does not exist, its trust policy does not allow this service, or the ExternalId differs"
        )
    return (
        f"Cannot access account {owner}: the role {access.role_arn(owner)} could not be assumed ({cause}). "
        f"Deploy a role named {access.role_name} in account {owner} whose trust policy allows "
        f"sts:AssumeRole to principal arn:{access.partition}:iam::{access.service_account}:root "
        f'with the condition StringEquals sts:ExternalId "{access.effective_external_id}", and that may '
        "read the job's trace log groups, write its output log group and use its KMS key."
    )
