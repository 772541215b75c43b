"""The local API server: a threaded HTTP server on 127.0.0.1 in front of `LocalGateway`.

HTTP/1.1 with keep-alive, because boto3 pools connections. The server never dies on a bad request:
anything the gateway does not turn into a response becomes a bare 500 here.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from batcheval.local.gateway import LocalGateway
from batcheval.local.messages import HttpRequest, HttpResponse
from batcheval.local.proxy import error_response, new_request_id

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787


class _GatewayHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: LocalGateway) -> None:
        super().__init__(address, _RequestHandler)
        self.gateway = gateway


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; with Nagle + delayed ACK each response waits ~40 ms.
    disable_nagle_algorithm = True
    server: _GatewayHttpServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        gateway = self.server.gateway
        try:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                self.close_connection = True
                self._send(
                    error_response(
                        411, "LengthRequiredException", "Length Required", request_id=new_request_id()
                    )
                )
                return
            length = self._content_length()
            if length is None:
                self.close_connection = True
                self._send(
                    error_response(
                        400, "BadRequestException", "Invalid Content-Length", request_id=new_request_id()
                    )
                )
                return
            if length > gateway.max_body_bytes:
                # Refuse without reading 10+ MB; the unread body makes the connection unusable.
                self.close_connection = True
                self._send(gateway.reject_oversized())
                return
            body = self.rfile.read(length) if length else b""
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

    def _content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return 0
        try:
            length = int(raw)
        except ValueError:
            return None
        return length if length >= 0 else None

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

    def __init__(self, gateway: LocalGateway, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        self.gateway = gateway
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
        self._httpd = _GatewayHttpServer((self._host, self._port), self.gateway)
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
