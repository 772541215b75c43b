"""The one mapping from exceptions to AgentCore's wire errors, shared by the five handlers.

Wire shape (what boto3's rest-json parser reads): status code, header `x-amzn-ErrorType: <Code>`,
JSON body `{"message": ...}`; a ValidationException adds `reason` and `fieldList`. Anything
unexpected becomes InternalServerException 500 with a generic message; details go to the log only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from botocore.exceptions import ClientError
from pydantic import ValidationError as PydanticValidationError

from batcheval.errors import DomainError, FieldIssue, ResourceNotFoundError, ThrottlingError, ValidationError
from batcheval.observability import api_logger as logger

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


MAX_REPORTED_ISSUES = 20
"""fieldList names at most this many problems; the message counts the rest."""
MAX_ISSUE_TEXT = 300
"""Characters kept of a field name or message (a dict key in a path can be any length)."""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ISSUE_TEXT else text[: MAX_ISSUE_TEXT - 1] + "…"


class _ReportedIssues(ValidationError):
    """A ValidationException whose fieldList may be a prefix of `total` problems."""

    def __init__(self, message: str, *, fields: list[FieldIssue], total: int) -> None:
        super().__init__(message, fields=fields)
        self.total = total


def _named(issues: list[FieldIssue], total: int | None = None) -> ValidationError:
    """One ValidationException for `issues` (of `total` found): the first MAX_REPORTED_ISSUES are
    listed and the rest counted, so the answer stays small whatever the request (≤ 64 KB; Lambda
    fails a response over 6 MB instead of answering 400)."""
    total = max(total or 0, len(issues))
    shown = [FieldIssue(_clip(issue.name), _clip(issue.message)) for issue in issues[:MAX_REPORTED_ISSUES]]
    names = ", ".join(dict.fromkeys(issue.name for issue in shown))
    message = f"{total} validation error(s) in: {names}"
    if total > len(shown):
        message += f" (and {total - len(shown)} more not listed)"
    return _ReportedIssues(message, fields=shown, total=total)


def validation_error(error: PydanticValidationError, *, prefix: Sequence[str] = ()) -> ValidationError:
    """The bad fields of a request, named (the first MAX_REPORTED_ISSUES), in one ValidationException."""
    details = error.errors(include_url=False, include_context=False, include_input=False)
    return _named(
        [
            FieldIssue(field_path([*prefix, *detail["loc"]]) or "body", detail["msg"])
            for detail in details[:MAX_REPORTED_ISSUES]
        ],
        error.error_count(),
    )


EXTRA_MEMBER_MESSAGE = "Extra inputs are not permitted"


def unknown_members(paths: Sequence[str], total: int) -> ValidationError:
    """A ValidationException for `total` unknown members, the first of them at `paths`."""
    return _named([FieldIssue(path, EXTRA_MEMBER_MESSAGE) for path in paths], total)


def with_issues(error: ValidationError, extra: Sequence[FieldIssue]) -> ValidationError:
    """`error` plus issues found outside the model, so one answer names every bad field instead of
    revealing them one resubmission at a time. A field already named, or inside one, is not repeated."""
    known = [issue.name for issue in error.fields]

    def named(name: str) -> bool:
        return any(name == k or name.startswith((f"{k}.", f"{k}[")) for k in known)

    added = [issue for issue in extra if not named(issue.name)]
    if not added:
        return error
    found = error.total if isinstance(error, _ReportedIssues) else len(error.fields)
    return _named([*error.fields, *added], found + len(added))


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
        body=msgspec.json.encode(error_body(error)).decode(),
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
