"""Domain errors: the one module every layer raises from.

Adapters (the API error mapping, the state machine's Catch/Retry names) translate these at the
edges; domain code never builds HTTP responses. Each error names the AgentCore wire error it
becomes so the mapping is a table, not a chain of isinstance checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

ValidationReason = Literal[
    "CannotParse",
    "FieldValidationFailed",
    "IdempotentParameterMismatchException",
    "EventInOtherSession",
    "ResourceConflict",
]
"""Exactly botocore's `ValidationExceptionReason` enum (checked by tests/unit/api/test_model_contract.py)."""


@dataclass(frozen=True)
class FieldIssue:
    """One bad field of a request: `name` is a dotted path such as `evaluators[0].evaluatorId`."""

    name: str
    message: str


class DomainError(Exception):
    """Base of every error the service reports to a caller."""

    wire_code: ClassVar[str] = "InternalServerException"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(DomainError):
    wire_code = "ValidationException"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        reason: ValidationReason = "FieldValidationFailed",
        fields: list[FieldIssue] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason: ValidationReason = reason
        self.fields: list[FieldIssue] = list(fields or [])


class ResourceNotFoundError(DomainError):
    wire_code = "ResourceNotFoundException"
    http_status = 404


class ConflictError(DomainError):
    wire_code = "ConflictException"
    http_status = 409


class ServiceQuotaExceededError(DomainError):
    wire_code = "ServiceQuotaExceededException"
    http_status = 402


class ThrottlingError(DomainError):
    wire_code = "ThrottlingException"
    http_status = 429


class AccessDeniedError(DomainError):
    wire_code = "AccessDeniedException"
    http_status = 403


class UnauthorizedError(DomainError):
    wire_code = "UnauthorizedException"
    http_status = 401


class CallerRoleError(AccessDeniedError):
    """The role the service assumes in a job owner's account is missing or refuses the service.

    The message is written for the caller (it becomes the job's errorDetails): which role to deploy
    in which account, trusting whom, with which ExternalId. It never quotes STS's own message, which
    names the service's internal roles.
    """


class SpanQueryError(DomainError):
    """Spans could not be read from CloudWatch Logs (a Logs Insights query failed, timed out or
    hit its row limit): the job cannot know which sessions exist, so it fails rather than guess."""


class DeleteIncompleteError(DomainError):
    """Some stored objects of a job survived DeleteObjects: the job stays DELETING for the next Delete."""

    wire_code = "InternalServerException"
    http_status = 500


class InternalError(DomainError):
    """Unexpected failure; its message is never shown to callers."""


@dataclass
class ErrorCounter:
    """Counts skipped inputs by reason, for reports that say why data was not used."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, n: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + n


class JudgeError(Exception):
    """A judge model gave no usable answer. It becomes one result's errorCode/errorMessage, never a score.

    `code` is short and stable (e.g. `ThrottlingException`, `ModelTimeout`, `InvalidJudgeOutput`,
    `JudgeUnavailable`); `retryable` tells the backend's retry loop whether another try may help;
    `retry_after` is the server's hint (seconds, from Retry-After) for when to try again.
    """

    def __init__(
        self, code: str, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after

    @classmethod
    def store_unavailable(cls, what: str, error: Exception) -> JudgeError:
        """A shared judge table (bucket, queue, slots) could not be read or written: retryable, so the
        call fails as one result's error after the retry budget, never as a crash of the evaluator."""
        response = getattr(error, "response", None)
        code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
        return cls("JudgeUnavailable", f"{what} unavailable: {code or type(error).__name__}", retryable=True)


class GatewayError(DomainError):
    """Rejected at the API front door (API Gateway, or the local server standing in for it).

    These never reach a handler. Codes and messages mirror API Gateway's gateway responses so a
    client sees the same errors locally as against a deployed stack.
    """

    http_status = 403


class MissingAuthenticationTokenError(GatewayError):
    """No SigV4 signature, or no such route (API Gateway answers both the same way)."""

    wire_code = "MissingAuthenticationTokenException"


class IncompleteSignatureError(GatewayError):
    wire_code = "IncompleteSignatureException"


class InvalidSignatureError(GatewayError):
    """Signature mismatch, wrong credential scope, or a request date outside the allowed clock skew."""

    wire_code = "InvalidSignatureException"


class UnrecognizedClientError(GatewayError):
    """Unknown access key or security token."""

    wire_code = "UnrecognizedClientException"


class RequestTooLargeError(GatewayError):
    wire_code = "RequestTooLargeException"
    http_status = 413
