"""Lambda entry point of GetBatchEvaluation: `get_batch_evaluation.lambda_handler`."""

from __future__ import annotations

from batcheval.api import operations
from batcheval.api.resolver import build_handler
from batcheval.api.routes import GET

app, lambda_handler = build_handler(GET, operations.get)
