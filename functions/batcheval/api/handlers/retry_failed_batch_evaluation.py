"""Lambda entry point of the RetryFailedBatchEvaluation extension (`...retry_failed_batch_evaluation`)."""

from __future__ import annotations

from batcheval.api import operations
from batcheval.api.resolver import build_handler
from batcheval.api.routes import RETRY_FAILED

app, lambda_handler = build_handler(RETRY_FAILED, operations.retry_failed)
