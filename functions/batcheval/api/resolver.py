"""A Powertools REST resolver with the shared wire-error mapping installed."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from batcheval.api.errors import register_error_handlers


def build_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    register_error_handlers(app)
    return app
