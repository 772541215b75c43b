"""The embedded AWS emulator: moto's server, started in this process, with the stack's resources.

It is a real HTTP endpoint, so the handlers use boto3 exactly as in Lambda (only the endpoint URL
differs) and a person can inspect or load data with the AWS CLI or boto3 (`--endpoint-url`).
Note: moto keeps its state in process-wide backends, shared with any `mock_aws` in the same
process; `mock_aws` resets that state when it starts, so don't mix the two in one test session
phase. When Step Functions executions run here later, moto's engine calls Lambda/S3/DynamoDB at
`localhost:$MOTO_PORT` (default 5000): set MOTO_PORT to this emulator's port first.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

import boto3

from batcheval.aws import AwsClients
from batcheval.jobs.resources import ensure_job_resources
from batcheval.local.backend import DEFAULT_BUCKET_NAME, DEFAULT_TABLE_NAME, Backend, create_stack_key

EMULATOR_ACCESS_KEY = "testing"
EMULATOR_SECRET_KEY = "testing"
SERVICES = ("dynamodb", "s3", "kms", "logs")
"""What the emulator stands in for today (moto serves every service on the one endpoint)."""


class EmbeddedEmulator:
    """Start/stop moto's threaded server on 127.0.0.1 and create the job table, bucket and stack key.

    Use as a context manager (`with EmbeddedEmulator() as backend:`) or call start()/stop().
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        port: int = 0,
        table_name: str = DEFAULT_TABLE_NAME,
        bucket_name: str = DEFAULT_BUCKET_NAME,
    ) -> None:
        self.region = region
        self._port = port
        self._table_name = table_name
        self._bucket_name = bucket_name
        self._server: Any = None
        self._backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise RuntimeError("emulator is not started")
        return self._backend

    @property
    def endpoint_url(self) -> str:
        return self.backend.endpoint_url or ""

    def start(self) -> Backend:
        if self._backend is not None:
            return self._backend
        # moto's server is an optional extra (`batcheval[local]`): import it only when used.
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port, verbose=False)
        server.start()
        self._server = server
        host, port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{port}"
        session = boto3.Session(
            aws_access_key_id=EMULATOR_ACCESS_KEY,
            aws_secret_access_key=EMULATOR_SECRET_KEY,
            region_name=self.region,
        )
        clients = AwsClients(region=self.region, endpoint_url=endpoint_url, session=session)
        try:
            ensure_job_resources(clients, table_name=self._table_name, bucket_name=self._bucket_name)
            kms_key_arn = create_stack_key(clients)
        except Exception:
            self.stop()
            raise
        self._backend = Backend(
            region=self.region,
            endpoint_url=endpoint_url,
            table_name=self._table_name,
            bucket_name=self._bucket_name,
            kms_key_arn=kms_key_arn,
            clients=clients,
            credentials={
                "AWS_ACCESS_KEY_ID": EMULATOR_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": EMULATOR_SECRET_KEY,
                "AWS_SESSION_TOKEN": None,  # a real session token from the shell must not leak in
            },
        )
        return self._backend

    def stop(self) -> None:
        server, self._server, self._backend = self._server, None, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Backend:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
