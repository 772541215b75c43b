"""Lambda entry point of StartBatchEvaluation: `start_batch_evaluation.lambda_handler`."""

from __future__ import annotations

from batcheval.api import operations
from batcheval.api.resolver import build_handler
from batcheval.api.routes import START

app, lambda_handler = build_handler(START, operations.start)
