"""Lambda entry point of ListBatchEvaluations: `list_batch_evaluations.lambda_handler`."""

from __future__ import annotations

from batcheval.api import operations
from batcheval.api.resolver import build_handler
from batcheval.api.routes import LIST

app, lambda_handler = build_handler(LIST, operations.list_jobs)
