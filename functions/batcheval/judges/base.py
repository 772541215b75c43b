"""The judge interface every backend implements (Bedrock Converse, OpenAI-compatible, test fakes).

Judges return structured output: the evaluator supplies a JSON schema and the backend forces the
model to answer through it (Converse tool use / Chat Completions tools). A backend never invents an
answer: when no model answered it raises `batcheval.errors.JudgeError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

DEADLINE_EXCEEDED = "JudgeDeadlineExceeded"
"""errorCode of a judge call that could not be made (or retried) before its caller's deadline."""


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    """One structured judging call."""

    system: str
    """The rubric / instructions."""
    prompt: str
    """The user message: the compact transcript and the question."""
    output_schema: dict[str, Any]
    """JSON schema of the answer object (the tool's input schema)."""
    output_name: str = "submit_verdict"
    """Name of the tool the model must call with its answer."""
    max_tokens: int = 400
    temperature: float = 0.0
    model_id: str | None = None
    """Overrides the backend's default model (e.g. a derived evaluator on another model)."""
    metadata: dict[str, str] = field(default_factory=dict)
    """Free-form tags (evaluator id, session id) for logs and rate-limit accounting."""
    deadline: float | None = field(default=None, compare=False)
    """Epoch seconds by which the caller needs the answer (e.g. its batch's deadline): capacity not
    to be had before it is not waited for, and no retry starts after it (`JudgeDeadlineExceeded`).
    Not part of the request's identity (left out of ==)."""


@dataclass(frozen=True, slots=True)
class JudgeResponse:
    output: dict[str, Any]
    """The object the model passed to the output tool, unvalidated beyond being a JSON object."""
    usage: TokenUsage
    model_id: str
    raw_text: str | None = None
    """Any free text the model produced beside the tool call (kept for debugging)."""
    usage_estimated: bool = False
    """True when the server reported no usage and `usage` is a character-count estimate."""


@runtime_checkable
class Judge(Protocol):
    """A model that answers `JudgeRequest`s. Implementations must be safe to call from many threads."""

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        """Answer the request or raise `JudgeError`."""
        ...


class DeadlineJudge:
    """Gives every request `deadline` (epoch seconds) unless it has an earlier one of its own.

    A score-batch invocation wraps the judge it built at cold start with its own deadline (e.g. the
    Lambda's end minus the judge's `timeout_s` and a margin), so evaluators need not know it.
    """

    def __init__(self, inner: Judge, deadline: float) -> None:
        self.inner = inner
        self.deadline = deadline

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        if request.deadline is None or request.deadline > self.deadline:
            request = replace(request, deadline=self.deadline)
        return self.inner.judge(request)
