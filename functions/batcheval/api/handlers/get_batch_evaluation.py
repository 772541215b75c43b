"""Lambda entry point: GetBatchEvaluation (GET /evaluations/batch-evaluate/{batchEvaluationId})."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from batcheval.api import dependencies, operations
from batcheval.api.observability import logger
from batcheval.api.resolver import build_resolver
from batcheval.api.routes import GET

app = build_resolver()


@app.route(GET.resolver_path, method=GET.method)
def get_batch_evaluation(batchEvaluationId: str) -> Response[str]:
    return operations.get(app.current_event, dependencies.get_service())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
