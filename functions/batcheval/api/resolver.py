"""Builds one operation's Lambda entry point: a Powertools REST resolver serving only its route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from batcheval.api import dependencies
from batcheval.api.errors import register_error_handlers
from batcheval.api.routes import Route
from batcheval.jobs.service import JobService
from batcheval.observability import api_logger, lambda_entry

Operation = Callable[[APIGatewayProxyEvent, JobService], Response[str]]
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def build_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    register_error_handlers(app)
    return app


def build_handler(route: Route, operation: Operation) -> tuple[APIGatewayRestResolver, LambdaHandler]:
    """The resolver (for tests) and `lambda_handler` of one operation.

    Building it has no side effects (no clients, no environment reads): the JobService is made
    on the first request (`dependencies.get_service`).
    """
    app = build_resolver()

    @app.route(route.resolver_path, method=route.method)
    def _serve(**_path_parameters: str) -> Response[str]:
        # Path parameters are read from the event (as API Gateway decoded them) by the operation.
        return operation(app.current_event, dependencies.get_service())

    @lambda_entry(api_logger, correlation_id_path=correlation_paths.API_GATEWAY_REST)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)

    return app, lambda_handler
