"""Lambda entry point of DeleteBatchEvaluation: `delete_batch_evaluation.lambda_handler`."""

from __future__ import annotations

from batcheval.api import operations
from batcheval.api.resolver import build_handler
from batcheval.api.routes import DELETE

app, lambda_handler = build_handler(DELETE, operations.delete)
