"""The judge interface every backend implements (Bedrock Converse, OpenAI-compatible, test fakes).

Judges return structured output: the evaluator supplies a JSON schema and the backend forces the
model to answer through it (Converse tool use / Chat Completions tools). A backend never invents an
answer: when no model answered it raises `batcheval.errors.JudgeError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


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
