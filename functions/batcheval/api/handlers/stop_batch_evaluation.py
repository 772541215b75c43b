"""Lambda entry point of StopBatchEvaluation: `stop_batch_evaluation.lambda_handler`."""

from __future__ import annotations

from batcheval.api import operations
from batcheval.api.resolver import build_handler
from batcheval.api.routes import STOP

app, lambda_handler = build_handler(STOP, operations.stop)
