"""The embedded AWS emulator: moto's server, started in this process, with the stack's resources.

It is a real HTTP endpoint, so the handlers use boto3 exactly as in Lambda (only the endpoint URL
differs) and a person can inspect or load data with the AWS CLI or boto3 (`--endpoint-url`).

moto's backends are not thread-safe: under moto's own threaded server two concurrent DynamoDB
transactions both pass their conditions, and a failed one restores a table snapshot over the other's
writes (seen here: concurrent Starts with one clientToken stored two jobs with one name). AWS makes
each call atomic, and the job store's idempotency and quotas rely on that, so this server handles
connections in threads but runs one moto call at a time.
Note: moto keeps its state in process-wide backends, shared with any `mock_aws` in the same
process; `mock_aws` resets that state when it starts, so don't mix the two in one test session
phase. When Step Functions executions run here later, moto's engine calls Lambda/S3/DynamoDB at
`localhost:$MOTO_PORT` (default 5000): set MOTO_PORT to this emulator's port first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import boto3

from batcheval.aws import AwsClients
from batcheval.jobs.resources import ensure_job_resources
from batcheval.local.backend import DEFAULT_BUCKET_NAME, DEFAULT_TABLE_NAME, Backend, create_stack_key
from batcheval.local.moto_tuning import tuned_moto

EMULATOR_ACCESS_KEY = "testing"
EMULATOR_SECRET_KEY = "testing"
SERVICES = ("dynamodb", "s3", "kms", "logs")
"""What the emulator stands in for today (moto serves every service on the one endpoint)."""


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _OneCallAtATime:
    """WSGI middleware: each request runs (and its body is produced) under one lock."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


class _MotoServer:
    """moto's WSGI app on werkzeug in a background thread, like moto's ThreadedMotoServer, serialized."""

    def __init__(self, host: str, port: int) -> None:
        # moto's server is an optional extra (`batcheval[local]`): import it only when used.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = _OneCallAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="batcheval-moto", daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class EmbeddedEmulator:
    """Start/stop moto's server on 127.0.0.1 and create the job table, bucket and stack key.

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
        self._server: _MotoServer | None = None
        self._backend: Backend | None = None
        self._tuning = ExitStack()

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
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        # Safe only because _MotoServer runs one call at a time (see moto_tuning).
        self._tuning.enter_context(tuned_moto(SERVICES))
        server = _MotoServer("127.0.0.1", self._port)
        server.start()
        self._server = server
        endpoint_url = server.endpoint_url
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
        self._tuning.close()

    def __enter__(self) -> Backend:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
