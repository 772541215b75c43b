"""The local stand-in for API Gateway: route, authenticate (SigV4), invoke the handler, shape the answer.

Kept free of sockets so it can be tested request by request; `server.py` puts it behind HTTP.
Behaviour follows API Gateway REST with AWS_IAM auth:

- no route for the method and path → 403 `MissingAuthenticationTokenException` (API Gateway does not
  reveal which paths exist), checked before the signature;
- bad or missing signature → 403 with API Gateway's error types and messages;
- body over 10 MB → 413;
- optional stage throttling (token bucket) → 429 `ThrottlingException` "Too Many Requests";
- optional resource policy (allowed caller accounts) → 403 `AccessDeniedException` with API Gateway's
  "User: … is not authorized to perform: execute-api:Invoke on resource: …" message;
- a handler that raises or returns a malformed result → 500 `InternalServerException` with no detail
  (API Gateway itself would say 502; the handlers' own error mapping answers 500, so clients see one
  shape for "the service broke"). The traceback goes to the server log only.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from batcheval.api.routes import Route
from batcheval.errors import (
    AccessDeniedError,
    DomainError,
    MissingAuthenticationTokenError,
    RequestTooLargeError,
    ThrottlingError,
)
from batcheval.local.lambda_context import context_for
from batcheval.local.messages import HttpRequest, HttpResponse
from batcheval.local.proxy import (
    ApiIdentity,
    InvalidProxyResultError,
    build_proxy_event,
    error_response,
    new_request_id,
    proxy_result_to_http,
)
from batcheval.local.routes import ROUTES, handler_module, match_route
from batcheval.local.sigv4 import TenantRegistry, VerifiedCaller, verify_request
from batcheval.local.throttle import TokenBucket
from batcheval.sdk import API_GATEWAY_SIGNING_NAME

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
"""API Gateway REST payload limit."""

SERVICE_SIGNATURE_WARNING = (
    "accepted a request signed for 'bedrock-agentcore' (a stock client). A deployed API Gateway refuses "
    "that signature; sign for 'execute-api' with one line: batcheval.client(endpoint_url=...) for new "
    "code, batcheval.install(endpoint_url=...) for the AgentCore SDK / existing boto3 code, or "
    "`aws configure set plugins.batcheval batcheval.awscli_plugin` for the AWS CLI. (Said once.)"
)

Handler = Callable[[dict[str, Any], Any], object]
HandlerResolver = Callable[[Route], Handler]
Clock = Callable[[], datetime]


def import_handler(route: Route) -> Handler:
    """The `lambda_handler` of the route's module, imported on first use (as a Lambda cold start)."""
    module = importlib.import_module(handler_module(route))
    handler: Handler = module.lambda_handler
    return handler


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LocalGateway:
    """Turns one HTTP request into one handler invocation, exactly as the deployed API would."""

    def __init__(
        self,
        tenants: TenantRegistry,
        *,
        api: ApiIdentity,
        region: str = "us-east-1",
        resolve_handler: HandlerResolver = import_handler,
        routes: tuple[Route, ...] = ROUTES,
        clock: Clock = _utc_now,
        max_body_bytes: int = MAX_BODY_BYTES,
        allowed_accounts: frozenset[str] | None = None,
        throttle: TokenBucket | None = None,
    ) -> None:
        """`allowed_accounts` is the API's resource policy (None = every configured tenant may call);
        `throttle` is the stage's rate limit (None = unlimited)."""
        self.tenants = tenants
        self.api = api
        self.region = region
        self.routes = routes
        self.max_body_bytes = max_body_bytes
        self.allowed_accounts = allowed_accounts
        self.throttle = throttle
        self._resolve_handler = resolve_handler
        self._clock = clock
        self._handlers: dict[Route, Handler] = {}
        self._lock = threading.Lock()
        self._warned_service_signature = False

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id()
        try:
            return self._handle(request, request_id)
        except DomainError as exc:  # raised only by the gateway's own checks, never by a handler
            return error_response(exc.http_status, exc.wire_code, exc.message, request_id=request_id)

    def reject_oversized(self) -> HttpResponse:
        """The 413 answer, for callers that refuse a body before reading it."""
        error = RequestTooLargeError("Request Too Long")
        return error_response(error.http_status, error.wire_code, error.message, request_id=new_request_id())

    def _handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        if len(request.body) > self.max_body_bytes:
            raise RequestTooLargeError("Request Too Long")
        matched = match_route(request.method, request.raw_path, self.routes)
        if matched is None:
            raise MissingAuthenticationTokenError("Missing Authentication Token")
        if self.throttle is not None and not self.throttle.try_acquire():
            raise ThrottlingError("Too Many Requests")
        now = self._clock()
        caller = verify_request(request, self.tenants, now=now, region=self.region)
        self._authorize(caller, request)
        self._warn_once_about_service_signature(caller)
        event = build_proxy_event(request, matched, caller, self.api, request_id=request_id, now=now)
        operation = matched.route.operation
        try:
            handler = self._handler(matched.route)
            context = context_for(
                operation, request_id=new_request_id(), region=self.region, account_id=self.api.account_id
            )
            result = handler(event, context)
            return proxy_result_to_http(result, request_id=request_id)
        except InvalidProxyResultError as exc:
            logger.error(
                "operation=<%s> request_id=<%s> | malformed handler result: %s", operation, request_id, exc
            )
        except Exception:
            logger.exception("operation=<%s> request_id=<%s> | handler failed", operation, request_id)
        return error_response(500, "InternalServerException", "Internal server error", request_id=request_id)

    def _authorize(self, caller: VerifiedCaller, request: HttpRequest) -> None:
        if self.allowed_accounts is None or caller.tenant.account_id in self.allowed_accounts:
            return
        resource = (
            f"arn:aws:execute-api:{self.region}:{self.api.account_id}:{self.api.api_id}/{self.api.stage}/"
            f"{request.method.upper()}{request.raw_path}"
        )
        raise AccessDeniedError(
            f"User: {caller.tenant.user_arn} is not authorized to perform: execute-api:Invoke"
            f" on resource: {resource}"
        )

    def _warn_once_about_service_signature(self, caller: VerifiedCaller) -> None:
        """Works here, breaks when deployed: say so once per server, not once per request."""
        if caller.signing_name == API_GATEWAY_SIGNING_NAME:
            return
        with self._lock:
            if self._warned_service_signature:
                return
            self._warned_service_signature = True
        logger.warning(SERVICE_SIGNATURE_WARNING)

    def _handler(self, route: Route) -> Handler:
        with self._lock:
            handler = self._handlers.get(route)
            if handler is None:
                handler = self._resolve_handler(route)
                self._handlers[route] = handler
            return handler
