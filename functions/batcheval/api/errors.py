"""The one mapping from exceptions to AgentCore's wire errors, shared by the five handlers.

Wire shape (what boto3's rest-json parser reads): status code, header `x-amzn-ErrorType: <Code>`,
JSON body `{"message": ...}`; a ValidationException adds `reason` and `fieldList`. Anything
unexpected becomes InternalServerException 500 with a generic message; details go to the log only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from botocore.exceptions import ClientError
from pydantic import ValidationError as PydanticValidationError

from batcheval.api.observability import logger
from batcheval.errors import DomainError, FieldIssue, ResourceNotFoundError, ThrottlingError, ValidationError

INTERNAL_MESSAGE = "The service could not complete the request because of an internal error."
# AWS error codes of our dependencies that mean "slow down", surfaced as ThrottlingException.
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "LimitExceededException",
    }
)


def field_path(location: Sequence[int | str]) -> str:
    """pydantic's error location as the service names fields: `evaluators[0].evaluatorId`."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


def _named(issues: list[FieldIssue]) -> ValidationError:
    names = ", ".join(dict.fromkeys(issue.name for issue in issues))
    return ValidationError(f"{len(issues)} validation error(s) in: {names}", fields=issues)


def validation_error(error: PydanticValidationError, *, prefix: Sequence[str] = ()) -> ValidationError:
    """Every bad field of a request, named, in one ValidationException."""
    return _named(
        [
            FieldIssue(field_path([*prefix, *detail["loc"]]) or "body", detail["msg"])
            for detail in error.errors()
        ]
    )


def with_issues(error: ValidationError, extra: Sequence[FieldIssue]) -> ValidationError:
    """`error` plus issues found outside the model, so one answer names every bad field instead of
    revealing them one resubmission at a time. A field already named, or inside one, is not repeated."""
    known = [issue.name for issue in error.fields]

    def named(name: str) -> bool:
        return any(name == k or name.startswith((f"{k}.", f"{k}[")) for k in known)

    added = [issue for issue in extra if not named(issue.name)]
    return _named([*error.fields, *added]) if added else error


def error_body(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {"message": error.message}
    if isinstance(error, ValidationError):
        body["reason"] = error.reason
        body["fieldList"] = [{"name": issue.name, "message": issue.message} for issue in error.fields]
    return body


def error_response(error: DomainError, *, request_id: str | None = None) -> Response[str]:
    headers: dict[str, str] = {"x-amzn-ErrorType": error.wire_code}
    if request_id:
        headers["x-amzn-RequestId"] = request_id
    return Response(
        status_code=error.http_status,
        content_type="application/json",
        body=orjson.dumps(error_body(error)).decode(),
        headers=headers,
    )


def _request_id(app: APIGatewayRestResolver) -> str | None:
    context = app.current_event.get("requestContext") or {}
    request_id = context.get("requestId")
    return request_id if isinstance(request_id, str) else None


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    """Install the mapping on a resolver (each handler module builds its own resolver)."""

    @app.exception_handler(DomainError)
    def _domain(error: DomainError) -> Response[str]:
        if error.http_status >= 500:
            logger.error("internal error", exc_info=error)
            return error_response(DomainError(INTERNAL_MESSAGE), request_id=_request_id(app))
        logger.info("request rejected", extra={"errorType": error.wire_code, "detail": error.message})
        return error_response(error, request_id=_request_id(app))

    @app.exception_handler(ClientError)
    def _aws(error: ClientError) -> Response[str]:
        code = error.response.get("Error", {}).get("Code", "")
        if code in THROTTLING_CODES:
            logger.warning("dependency throttled", extra={"awsErrorCode": code})
            return error_response(
                ThrottlingError("Rate exceeded; retry with backoff."), request_id=_request_id(app)
            )
        logger.exception("AWS call failed", extra={"awsErrorCode": code})
        return error_response(DomainError(INTERNAL_MESSAGE), request_id=_request_id(app))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        logger.error("unexpected error", exc_info=error)
        return error_response(DomainError(INTERNAL_MESSAGE), request_id=_request_id(app))

    # Wrong method or path for this handler (a wiring mistake): still the service's error shape.
    @app.not_found
    def _no_route(_: Exception) -> Response[str]:
        event = app.current_event
        message = f"No operation matches {event.http_method} {event.path}."
        return error_response(ResourceNotFoundError(message), request_id=_request_id(app))
