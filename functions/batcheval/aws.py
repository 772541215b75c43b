"""The one place AWS clients are created; everything else receives them injected.

The same code then runs against AWS, the embedded emulator (an `endpoint_url`) and tests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config


@dataclass
class AwsClients:
    """A lazily filled, thread-safe cache of boto3 clients sharing one session and endpoint."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    session: boto3.Session | None = None
    max_pool_connections: int = 32
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def client(
        self, service: str, *, total_max_attempts: int | None = None, read_timeout: float | None = None
    ) -> Any:
        """The cached client for `service`.

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
