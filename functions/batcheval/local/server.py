"""The local API server: a threaded HTTP server on 127.0.0.1 in front of `LocalGateway`.

HTTP/1.1 with keep-alive, because boto3 pools connections. The server never dies on a bad request,
and every refusal has the service's error shape (JSON `message` + `x-amzn-ErrorType`), including
the ones Python's `http.server` makes itself (bad request line, unknown method, long lines, too many
headers), which would otherwise be HTML pages. API Gateway's limits on the request line and headers
are enforced here (see `MAX_HEADER_BYTES`), and a connection that stops sending is dropped after
`read_timeout` seconds instead of holding its thread for good.
"""

from __future__ import annotations

import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from batcheval.local.gateway import LocalGateway
from batcheval.local.messages import HttpRequest, HttpResponse
from batcheval.local.proxy import error_response, new_request_id

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_READ_TIMEOUT = 20.0
"""Seconds a connection may stay silent while a request (or the next one on keep-alive) is due."""
LISTEN_BACKLOG = 512
"""Connections the kernel queues before accept (http.server's default of 5 resets bursts of clients)."""
MAX_HEADER_BYTES = 10_240
"""API Gateway REST: the request line and header values together at most 10,240 bytes."""

_DIGITS = re.compile(r"[0-9]+")
# http.server's own refusals (send_error) → status, error type and message as API Gateway words them.
_REFUSALS: dict[int, tuple[int, str, str]] = {
    HTTPStatus.BAD_REQUEST: (400, "BadRequestException", "Bad Request"),
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: (400, "BadRequestException", "Bad Request"),
    HTTPStatus.EXPECTATION_FAILED: (417, "BadRequestException", "Expectation Failed"),
    HTTPStatus.REQUEST_URI_TOO_LONG: (414, "BadRequestException", "Request-URI Too Long"),
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: (
        431,
        "BadRequestException",
        "Request Header Fields Too Large",
    ),
    # An unknown (or lower-case) method has no resource: API Gateway answers as for any unknown route.
    HTTPStatus.NOT_IMPLEMENTED: (403, "MissingAuthenticationTokenException", "Missing Authentication Token"),
}


class _GatewayHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], gateway: LocalGateway, read_timeout: float) -> None:
        super().__init__(address, _RequestHandler)
        self.gateway = gateway
        self.read_timeout = read_timeout


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; with Nagle + delayed ACK each response waits ~40 ms.
    disable_nagle_algorithm = True
    server: _GatewayHttpServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.read_timeout)

    def __getattr__(self, name: str) -> object:
        # Every method token reaches the gateway, which knows the routes (`do_GET`, `do_FOO`, ...).
        if name.startswith("do_") and name[3:].isupper():
            return self._dispatch
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals, in the service's error shape; the connection is closed."""
        status, error_type, text = _REFUSALS.get(code, (400, "BadRequestException", "Bad Request"))
        logger.info("refused %s: %s (%s)", self.requestline[:200], code, message)
        if not self.request_version.startswith("HTTP/1."):
            self.request_version = self.protocol_version  # answer with a status line and headers
        self._refuse(status, error_type, text)

    def _refuse(self, status: int, error_type: str, message: str) -> None:
        self.close_connection = True
        self._send(error_response(status, error_type, message, request_id=new_request_id()))

    def _dispatch(self) -> None:
        if self.request_version == "HTTP/0.9":
            self.request_version = self.protocol_version
            self._refuse(400, "BadRequestException", "Bad Request")
            return
        refusal = self._framing_refusal()
        if refusal is not None:
            self._refuse(*refusal)
            return
        gateway = self.server.gateway
        length = int(self.headers.get("Content-Length") or 0)
        if length > gateway.max_body_bytes:
            # Refuse without reading 10+ MB; the unread body makes the connection unusable.
            self.close_connection = True
            self._send(gateway.reject_oversized())
            return
        try:
            body = self.rfile.read(length) if length else b""
        except TimeoutError:
            self._refuse(408, "RequestTimeoutException", "Request Timeout")
            return
        if len(body) != length:  # the client closed before sending the body it announced
            self.close_connection = True
            return
        try:
            parts = urlsplit(self.path)
            request = HttpRequest(
                method=self.command,
                raw_path=parts.path,
                raw_query=parts.query,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
            )
            response = gateway.handle(request)
        except Exception:
            logger.exception("local API server failed on %s %s", self.command, self.path)
            self.close_connection = True
            response = error_response(
                500, "InternalServerException", "Internal server error", request_id=new_request_id()
            )
        self._send(response)

    def _framing_refusal(self) -> tuple[int, str, str] | None:
        """Why the request's size or framing is refused, or None: checked before reading any body."""
        header_bytes = len(self.requestline) + sum(len(k) + len(v) for k, v in self.headers.items())
        if header_bytes > MAX_HEADER_BYTES:
            return _REFUSALS[HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE]
        if self.headers.get("Transfer-Encoding") is not None:
            return 411, "LengthRequiredException", "Length Required"
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if len(lengths) > 1 or not all(_DIGITS.fullmatch(value) for value in lengths):
            # Two different lengths are how requests get smuggled past a proxy: never pick one.
            return 400, "BadRequestException", "Invalid Content-Length"
        return None

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        logger.info("%s - " + format, self.address_string(), *args)


class LocalApiServer:
    """Serve a `LocalGateway` on a background thread; use as a context manager or start()/stop()."""

    def __init__(
        self,
        gateway: LocalGateway,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        self.gateway = gateway
        self._read_timeout = read_timeout
        self._host = host
        self._port = port
        self._httpd: _GatewayHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalApiServer:
        if self._httpd is not None:
            return self
        self._httpd = _GatewayHttpServer((self._host, self._port), self.gateway, self._read_timeout)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="batcheval-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LocalApiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
