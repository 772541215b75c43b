"""Route matching for the local server, over the API's own route table (`batcheval.api.routes`).

Each operation's handler lives in `batcheval.api.handlers.<snake_case operation>`, as deployed: one
Lambda function per operation behind the same API Gateway resources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from batcheval.api.routes import ROUTES as API_ROUTES
from batcheval.api.routes import Route

HANDLERS_PACKAGE = "batcheval.api.handlers"

ROUTES: tuple[Route, ...] = tuple(API_ROUTES.values())


def handler_module(route: Route) -> str:
    """`StartBatchEvaluation` → `batcheval.api.handlers.start_batch_evaluation`."""
    return f"{HANDLERS_PACKAGE}.{re.sub(r'(?<!^)(?=[A-Z])', '_', route.operation).lower()}"


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
        templates = tuple(route.path.strip("/").split("/"))
        if route.method != method.upper() or len(templates) != len(segments):
            continue
        params: dict[str, str] = {}
        for template, actual in zip(templates, segments, strict=True):
            if template.startswith("{") and template.endswith("}"):
                params[template[1:-1]] = unquote(actual)
            elif template != actual:
                break
        else:
            return RouteMatch(route=route, path_parameters=params)
    return None
