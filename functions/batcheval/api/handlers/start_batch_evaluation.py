"""Lambda entry point: StartBatchEvaluation (POST /evaluations/batch-evaluate)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from batcheval.api import dependencies, operations
from batcheval.api.observability import logger
from batcheval.api.resolver import build_resolver
from batcheval.api.routes import START

app = build_resolver()


@app.route(START.resolver_path, method=START.method)
def start_batch_evaluation() -> Response[str]:
    return operations.start(app.current_event, dependencies.get_service())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
