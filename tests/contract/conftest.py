"""The local API server on the embedded emulator, started once for the contract tests.

Every test gets its own tenant (a fresh AWS account), so tests never see each other's jobs and
per-owner quotas start at zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from batcheval.local.backend import handler_environment
from batcheval.local.emulator import EmbeddedEmulator
from batcheval.local.gateway import LocalGateway
from batcheval.local.proxy import ApiIdentity
from batcheval.local.server import LocalApiServer
from batcheval.local.sigv4 import DEFAULT_TENANT, Tenant, TenantRegistry
from tests.contract.support import REGION, LocalApi


@pytest.fixture(scope="package")
def local_api() -> Iterator[LocalApi]:
    # Package scope: moto's state is process-wide and `mock_aws` (used by other suites) resets it,
    # so the emulator lives only while the contract tests run.
    with EmbeddedEmulator(region=REGION) as backend, handler_environment(backend.handler_environment()):
        tenants = TenantRegistry([DEFAULT_TENANT])
        gateway = LocalGateway(tenants, api=ApiIdentity(account_id=DEFAULT_TENANT.account_id), region=REGION)
        with LocalApiServer(gateway, port=0) as server:
            yield LocalApi(url=server.url, backend=backend, gateway=gateway, tenants=tenants)


@pytest.fixture
def tenant(local_api: LocalApi) -> Tenant:
    return local_api.new_tenant()


@pytest.fixture
def agentcore(local_api: LocalApi, tenant: Tenant) -> Any:
    """The caller's client, as existing AgentCore code gets it with `batcheval.client`."""
    return local_api.client(tenant)


@pytest.fixture
def other_tenant(local_api: LocalApi) -> Tenant:
    return local_api.new_tenant()
