"""Helpers of the contract tests: the running local API, raw signed requests, request builders.

Every test gets its own tenant (a fresh AWS account), so tests never see each other's jobs and
per-owner quotas start at zero. Clients are stock boto3 `bedrock-agentcore` clients with client-side
parameter validation off (so bad input reaches the server, as from any other SDK) and no retries
(so throttling and 5xx are observed, not retried away).
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

import batcheval
from batcheval.local.backend import Backend, handler_environment
from batcheval.local.gateway import LocalGateway
from batcheval.local.sigv4 import DEFAULT_TENANT, Tenant, TenantRegistry
from batcheval.local.throttle import TokenBucket
from tests.unit.local.signing import sign

REGION = "us-east-1"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, parameter_validation=False)


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-errortype")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LocalApi:
    url: str
    backend: Backend
    gateway: LocalGateway
    tenants: TenantRegistry
    _accounts: Iterator[int] = field(default_factory=lambda: itertools.count(100_000_000_001))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _session: boto3.Session = field(default_factory=boto3.Session)
    """One session for all clients: it caches the loaded service model (~60 ms per new session)."""

    def new_tenant(self) -> Tenant:
        with self._lock:
            number = next(self._accounts)
        tenant = Tenant(f"AKCONTRACT{number}", f"secret-{number}", str(number), user_name=f"user{number}")
        self.tenants.add(tenant)
        return tenant

    def client(self, tenant: Tenant, *, signing_name: str = "execute-api") -> Any:
        """The stock client: via `batcheval.client` (execute-api) or plain boto3 (bedrock-agentcore)."""
        credentials = {"aws_access_key_id": tenant.access_key, "aws_secret_access_key": tenant.secret_key}
        if signing_name == "execute-api":
            return batcheval.client(
                endpoint_url=self.url, region_name=REGION, config=NO_RETRIES, **credentials
            )
        return boto3.client(
            "bedrock-agentcore",
            endpoint_url=self.url,
            region_name=REGION,
            config=NO_RETRIES,
            aws_access_key_id=tenant.access_key,
            aws_secret_access_key=tenant.secret_key,
        )

    def raw(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        tenant: Tenant | None = None,
        signed: bool = True,
        when: datetime | None = None,
        secret_key: str | None = None,
    ) -> RawResponse:
        """One HTTP request, signed (or not) exactly as given: for what no SDK would send."""
        host = self.url.removeprefix("http://")
        caller = tenant or DEFAULT_TENANT
        all_headers = dict(headers or {})
        if signed:
            all_headers = dict(
                sign(
                    method,
                    f"{self.url}{path}",
                    body=body,
                    headers=all_headers,
                    access_key=caller.access_key,
                    secret_key=secret_key or caller.secret_key,
                    when=when or datetime.now(UTC),
                )
            )
        connection = http.client.HTTPConnection(host, timeout=10)
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            return RawResponse(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            connection.close()

    @contextmanager
    def settings(self, **env: str) -> Iterator[None]:
        """Run the handlers with changed settings (a redeploy with other env vars), then restore."""
        with handler_environment(env):
            yield

    @contextmanager
    def resource_policy(self, allowed_accounts: set[str]) -> Iterator[None]:
        previous, self.gateway.allowed_accounts = self.gateway.allowed_accounts, frozenset(allowed_accounts)
        try:
            yield
        finally:
            self.gateway.allowed_accounts = previous

    @contextmanager
    def throttled(self, *, burst: int) -> Iterator[None]:
        previous, self.gateway.throttle = self.gateway.throttle, TokenBucket(rate=0.001, burst=burst)
        try:
            yield
        finally:
            self.gateway.throttle = previous


def data_source(service: str = "shop_agent.DEFAULT") -> dict[str, Any]:
    return {"cloudWatchLogs": {"serviceNames": [service], "logGroupNames": ["/aws/spans"]}}


def start_request(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "batchEvaluationName": name,
        "dataSourceConfig": data_source(),
        "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}],
        **extra,
    }


def job_ids(client: Any) -> list[str]:
    """Every job id the caller can list, following all pages (the observable state of a tenant)."""
    ids: list[str] = []
    for page in client.get_paginator("list_batch_evaluations").paginate(PaginationConfig={"PageSize": 100}):
        ids.extend(job["batchEvaluationId"] for job in page["batchEvaluations"])
    return ids


def statuses(client: Any) -> dict[str, str]:
    jobs: dict[str, str] = {}
    for page in client.get_paginator("list_batch_evaluations").paginate():
        jobs.update({job["batchEvaluationId"]: job["status"] for job in page["batchEvaluations"]})
    return jobs


@contextmanager
def no_state_change(client: Any) -> Iterator[None]:
    """Assert the caller's jobs (ids and statuses) are the same after the block as before it."""
    before = statuses(client)
    yield
    assert statuses(client) == before
