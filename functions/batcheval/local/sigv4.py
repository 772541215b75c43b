"""Server-side AWS Signature Version 4 verification for the local API server.

Behind API Gateway (AWS_IAM auth) none of this runs: API Gateway verifies the signature and puts
the caller's identity into the request context. Locally we must do the same job, so the canonical
request is rebuilt with botocore's own signer (the code that produced the signature) and compared
in constant time. Errors carry API Gateway's codes and messages.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from batcheval.errors import (
    IncompleteSignatureError,
    InvalidSignatureError,
    MissingAuthenticationTokenError,
    UnrecognizedClientError,
    ValidationError,
)
from batcheval.local.messages import HttpRequest

ALGORITHM = "AWS4-HMAC-SHA256"
SIGNING_NAMES = frozenset({"execute-api", "bedrock-agentcore"})
"""API Gateway's name, and the one a stock `bedrock-agentcore` client signs with."""
MAX_CLOCK_SKEW = timedelta(minutes=5)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

DEFAULT_ACCESS_KEY = "test"
DEFAULT_SECRET_KEY = "test"
DEFAULT_ACCOUNT_ID = "123456789012"


@dataclass(frozen=True, slots=True)
class Tenant:
    """One caller the local server accepts: long-term credentials mapped to an AWS account."""

    access_key: str
    secret_key: str
    account_id: str
    user_name: str = "batcheval-local"
    session_token: str | None = None
    """When set, requests must carry exactly this `x-amz-security-token`."""

    @classmethod
    def parse(cls, spec: str) -> Tenant:
        """Parse `ACCESS_KEY:SECRET:ACCOUNT_ID` (the `--tenant` option)."""
        parts = spec.split(":")
        if len(parts) != 3 or not all(parts):
            raise ValidationError(f"tenant must be ACCESS_KEY:SECRET:ACCOUNT_ID, got {spec!r}")
        access_key, secret_key, account_id = parts
        if not (len(account_id) == 12 and account_id.isdigit()):
            raise ValidationError(f"tenant account id must be 12 digits, got {account_id!r}")
        return cls(access_key=access_key, secret_key=secret_key, account_id=account_id)

    @property
    def user_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{self.user_name}"

    @property
    def user_id(self) -> str:
        """A stable IAM-style unique id (`AIDA…`), what API Gateway reports as `caller`/`user`."""
        digest = hashlib.sha256(f"{self.account_id}:{self.access_key}".encode()).hexdigest()
        return "AIDA" + digest[:17].upper()


DEFAULT_TENANT = Tenant(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, DEFAULT_ACCOUNT_ID)


class TenantRegistry:
    """Credentials the server accepts, by access key. Thread-safe: tests add tenants while serving."""

    def __init__(self, tenants: Iterable[Tenant] = ()) -> None:
        self._by_key: dict[str, Tenant] = {}
        self._lock = threading.Lock()
        for tenant in tenants:
            self.add(tenant)

    def add(self, tenant: Tenant) -> None:
        with self._lock:
            existing = self._by_key.get(tenant.access_key)
            if existing is not None and existing != tenant:
                raise ValidationError(f"access key {tenant.access_key!r} is configured twice")
            self._by_key[tenant.access_key] = tenant

    def get(self, access_key: str) -> Tenant | None:
        with self._lock:
            return self._by_key.get(access_key)

    def all(self) -> list[Tenant]:
        with self._lock:
            return list(self._by_key.values())


@dataclass(frozen=True, slots=True)
class VerifiedCaller:
    tenant: Tenant
    access_key: str
    region: str
    signing_name: str
    security_token: str | None


@dataclass(frozen=True, slots=True)
class _Authorization:
    access_key: str
    scope_date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str


def verify_request(
    request: HttpRequest, tenants: TenantRegistry, *, now: datetime, region: str
) -> VerifiedCaller:
    """Return the caller of a correctly signed request to the API in `region`; raise a `GatewayError`
    subclass otherwise.

    The checks run in API Gateway's order: header present and complete, known key, clock skew,
    credential scope (region, then service, reported together as API Gateway does), then the
    signature itself.
    """
    header = request.header("authorization")
    if header is None or not header.strip():
        raise MissingAuthenticationTokenError("Missing Authentication Token")
    auth = _parse_authorization(header, request)
    tenant = tenants.get(auth.access_key)
    if tenant is None:
        raise UnrecognizedClientError("The security token included in the request is invalid.")
    token = request.header("x-amz-security-token")
    if tenant.session_token is not None and not _equal(token or "", tenant.session_token):
        raise UnrecognizedClientError("The security token included in the request is invalid.")
    timestamp = _request_timestamp(request)
    _check_clock_skew(timestamp, now)
    _check_scope(auth, timestamp, region)
    _check_signature(request, auth, tenant, timestamp)
    return VerifiedCaller(
        tenant=tenant,
        access_key=auth.access_key,
        region=auth.region,
        signing_name=auth.service,
        security_token=token,
    )


def _parse_authorization(header: str, request: HttpRequest) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        # API Gateway reads any other scheme as a broken key=value list.
        raise IncompleteSignatureError(
            "Invalid key=value pair (missing equal-sign) in Authorization header "
            f"(algorithm {algorithm!r} is not {ALGORITHM})."
        )
    params: dict[str, str] = {}
    for part in rest.split(","):
        key, eq, value = part.strip().partition("=")
        if not eq:
            raise IncompleteSignatureError(
                f"Invalid key=value pair (missing equal-sign) in Authorization header: {part.strip()!r}."
            )
        params[key] = value
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if request.header("x-amz-date") is None and request.header("date") is None:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise IncompleteSignatureError(" ".join(missing))
    credential = params["Credential"].split("/")
    if len(credential) != 5 or not all(credential):
        raise IncompleteSignatureError(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term,"
            f" got '{params['Credential']}'"
        )
    access_key, scope_date, region, service, terminator = credential
    return _Authorization(
        access_key=access_key,
        scope_date=scope_date,
        region=region,
        service=service,
        terminator=terminator,
        signed_headers=tuple(params["SignedHeaders"].split(";")),
        signature=params["Signature"],
    )


def _request_timestamp(request: HttpRequest) -> datetime:
    amz_date = request.header("x-amz-date")
    try:
        if amz_date is not None:
            return datetime.strptime(amz_date.strip(), AMZ_DATE_FORMAT).replace(tzinfo=UTC)
        http_date = request.header("date") or ""
        return parsedate_to_datetime(http_date).astimezone(UTC)
    except (ValueError, TypeError) as exc:
        raise IncompleteSignatureError(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601".format(
                amz_date if amz_date is not None else request.header("date")
            )
        ) from exc


def _amz(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(AMZ_DATE_FORMAT)


def _check_clock_skew(timestamp: datetime, now: datetime) -> None:
    if timestamp < now - MAX_CLOCK_SKEW:
        raise InvalidSignatureError(
            f"Signature expired: {_amz(timestamp)} is now earlier than {_amz(now - MAX_CLOCK_SKEW)}"
            f" ({_amz(now)} - 5 min.)"
        )
    if timestamp > now + MAX_CLOCK_SKEW:
        raise InvalidSignatureError(
            f"Signature not yet current: {_amz(timestamp)} is still later than {_amz(now + MAX_CLOCK_SKEW)}"
            f" ({_amz(now)} + 5 min.)"
        )


def _check_scope(auth: _Authorization, timestamp: datetime, region: str) -> None:
    if auth.terminator != "aws4_request":
        raise InvalidSignatureError(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{auth.terminator}'."
        )
    wrong = ""
    if auth.region != region:
        wrong += f"Credential should be scoped to a valid region, not '{auth.region}'. "
    if auth.service not in SIGNING_NAMES:
        wrong += "Credential should be scoped to correct service: 'execute-api'. "
    if wrong:
        raise InvalidSignatureError(wrong)
    request_day = _amz(timestamp)[:8]
    if auth.scope_date != request_day:
        raise InvalidSignatureError(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.scope_date}' != '{request_day}', from '{_amz(timestamp)}'."
        )


def _check_signature(request: HttpRequest, auth: _Authorization, tenant: Tenant, timestamp: datetime) -> None:
    signed = {name.lower() for name in auth.signed_headers}
    if "host" not in signed:
        raise InvalidSignatureError("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    claimed_hash = request.header("x-amz-content-sha256")
    if claimed_hash is not None and not _equal(claimed_hash, hashlib.sha256(request.body).hexdigest()):
        # botocore would trust this header as the payload hash; check it against the real body.
        raise InvalidSignatureError(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )

    headers: list[tuple[str, str]] = [(key, value) for key, value in request.headers if key.lower() in signed]
    present = {key.lower() for key, _ in headers}
    if present != signed:
        raise InvalidSignatureError(
            "The request signature we calculated does not match the signature you provided. "
            f"Signed headers missing from the request: {sorted(signed - present)}."
        )
    aws_request = AWSRequest(method=request.method, url=_url(request), data=request.body)
    for key, value in headers:
        aws_request.headers.add_header(key, value)
    aws_request.context["timestamp"] = _amz(timestamp)
    signer = SigV4Auth(
        Credentials(tenant.access_key, tenant.secret_key, request.header("x-amz-security-token")),
        auth.service,
        auth.region,
    )
    canonical = signer.canonical_request(aws_request)
    string_to_sign = signer.string_to_sign(aws_request, canonical)
    expected = signer.signature(string_to_sign, aws_request)
    if not _equal(expected, auth.signature):
        raise InvalidSignatureError(
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.\n\n"
            f"The Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n"
        )


def _url(request: HttpRequest) -> str:
    # The scheme does not enter the canonical request; http makes botocore always hash the payload.
    host = request.header("host") or "localhost"
    query = f"?{request.raw_query}" if request.raw_query else ""
    return f"http://{host}{request.raw_path}{query}"


def _equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
