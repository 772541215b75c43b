"""The API's resources, methods and handler modules: the local server's copy of the API Gateway routes.

Paths are botocore's `requestUri`s for the five operations; the deployed REST API (infra/) defines
the same resources, so a route that works locally works on AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

HANDLERS_PACKAGE = "batcheval.api.handlers"


@dataclass(frozen=True, slots=True)
class Route:
    operation: str
    method: str
    resource: str
    """API Gateway resource path template, e.g. `/evaluations/batch-evaluate/{batchEvaluationId}`."""
    handler_module: str

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.resource.strip("/").split("/"))


ROUTES: tuple[Route, ...] = (
    Route(
        "StartBatchEvaluation",
        "POST",
        "/evaluations/batch-evaluate",
        f"{HANDLERS_PACKAGE}.start_batch_evaluation",
    ),
    Route(
        "ListBatchEvaluations",
        "GET",
        "/evaluations/batch-evaluate",
        f"{HANDLERS_PACKAGE}.list_batch_evaluations",
    ),
    Route(
        "GetBatchEvaluation",
        "GET",
        "/evaluations/batch-evaluate/{batchEvaluationId}",
        f"{HANDLERS_PACKAGE}.get_batch_evaluation",
    ),
    Route(
        "DeleteBatchEvaluation",
        "DELETE",
        "/evaluations/batch-evaluate/{batchEvaluationId}",
        f"{HANDLERS_PACKAGE}.delete_batch_evaluation",
    ),
    Route(
        "StopBatchEvaluation",
        "POST",
        "/evaluations/batch-evaluate/{batchEvaluationId}/stop",
        f"{HANDLERS_PACKAGE}.stop_batch_evaluation",
    ),
)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]
    """Percent-decoded, as API Gateway passes them to the integration."""


def match_route(method: str, raw_path: str, routes: tuple[Route, ...] = ROUTES) -> RouteMatch | None:
    """Find the route for a method and a still percent-encoded path; None when there is none.

    Matching is segment by segment on the encoded path, so an id containing an encoded `/` (`%2F`)
    stays one path parameter, as on API Gateway.
    """
    segments = tuple(raw_path.strip("/").split("/")) if raw_path.strip("/") else ()
    if raw_path != "/" + "/".join(segments):
        return None  # trailing or doubled slashes: API Gateway has no such resource
    for route in routes:
        if route.method != method.upper() or len(route.segments) != len(segments):
            continue
        params: dict[str, str] = {}
        for template, actual in zip(route.segments, segments, strict=True):
            if template.startswith("{") and template.endswith("}"):
                params[template[1:-1]] = unquote(actual)
            elif template != actual:
                break
        else:
            return RouteMatch(route=route, path_parameters=params)
    return None
