"""The HTTP binding of each operation, as in botocore's model (checked by the contract test).

Paths use API Gateway's `{param}` form; Powertools routes use `<param>` (see `resolver_path`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    path: str
    success_status: int

    @property
    def resolver_path(self) -> str:
        """The path in Powertools' route syntax (`<name>` instead of `{name}`)."""
        return self.path.replace("{", "<").replace("}", ">")


START = Route("StartBatchEvaluation", "POST", "/evaluations/batch-evaluate", 202)
GET = Route("GetBatchEvaluation", "GET", "/evaluations/batch-evaluate/{batchEvaluationId}", 200)
LIST = Route("ListBatchEvaluations", "GET", "/evaluations/batch-evaluate", 200)
STOP = Route("StopBatchEvaluation", "POST", "/evaluations/batch-evaluate/{batchEvaluationId}/stop", 202)
DELETE = Route("DeleteBatchEvaluation", "DELETE", "/evaluations/batch-evaluate/{batchEvaluationId}", 202)

RETRY_FAILED = Route(
    "RetryFailedBatchEvaluation", "POST", "/evaluations/batch-evaluate/{batchEvaluationId}/retry-failed", 202
)
"""batcheval extension (not in botocore's model): re-score only the failed sessions of a finished job.
Its wire (request, response, errors) is in `botocore_data/.../service-2.sdk-extras.json`, which the
client helper merges into the stock client."""

ROUTES: dict[str, Route] = {
    route.operation: route for route in (START, GET, LIST, STOP, DELETE, RETRY_FAILED)
}
