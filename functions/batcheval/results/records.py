"""One evaluation result, shaped exactly like botocore's `EvaluationResultContent`.

A result either carries a score (`value` and/or `label`) or an error (`error_code` + `error_message`).
"Unscored" is never 0.0: a result without an answer has no `value` and says why in `error_code`.
Categorical evaluators (custom, no numbers) produce a `label` without a `value`; that is a valid,
scored-by-label result and is not an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from batcheval.judges.base import TokenUsage

Level = Literal["SESSION", "TRACE", "TOOL_CALL"]
LEVELS: tuple[Level, ...] = ("SESSION", "TRACE", "TOOL_CALL")

EXPLANATION_MAX = 2048
ERROR_MESSAGE_MAX = 2048
ERROR_CODE_MAX = 1024
_ELLIPSIS = "…"

BUILTIN_ARN_PREFIX = "arn:aws:bedrock-agentcore:::evaluator/"


class ErrorCodes:
    """The errorCode values this package writes (judge backends add their own, e.g. ThrottlingException)."""

    MISSING_GROUND_TRUTH = "MissingGroundTruth"
    """The evaluator needs a reference input (e.g. expectedTrajectory) the caller did not give."""
    INVALID_JUDGE_OUTPUT = "InvalidJudgeOutput"
    """The judge answered off-protocol (label outside the rating scale, missing fields)."""
    INSUFFICIENT_DATA = "InsufficientData"
    """The session lacks the data the evaluator measures (no timestamps, no token counts)."""
    NO_SPANS = "NoSpansToEvaluate"
    """A code-based evaluator needs raw spans and the session has none."""
    LAMBDA_FUNCTION_ERROR = "LambdaFunctionError"
    LAMBDA_TIMEOUT = "LambdaTimeout"
    LAMBDA_INVOKE_FAILED = "LambdaInvokeFailed"
    INVALID_LAMBDA_RESPONSE = "InvalidLambdaResponse"
    EVALUATOR_ERROR = "EvaluatorError"
    """An evaluator raised unexpectedly; only that result is lost, never its neighbours."""


def builtin_arn(evaluator_id: str) -> str:
    """ARN of a Builtin.* or ThirdParty.* evaluator (region- and account-less, as AWS writes them)."""
    return BUILTIN_ARN_PREFIX + evaluator_id


def custom_arn(evaluator_id: str, *, region: str, account_id: str) -> str:
    return f"arn:aws:bedrock-agentcore:{region}:{account_id}:evaluator/{evaluator_id}"


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut made visible with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


@dataclass(frozen=True, slots=True)
class SpanContext:
    """The ids addressing what was evaluated: a session, a trace (turn) or a span (tool call)."""

    session_id: str
    trace_id: str | None = None
    span_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sessionId": self.session_id}
        if self.trace_id is not None:
            out["traceId"] = self.trace_id
        if self.span_id is not None:
            out["spanId"] = self.span_id
        return out


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """One evaluator's verdict on one target (or one dimension of it)."""

    evaluator_id: str
    evaluator_name: str
    evaluator_arn: str
    context: SpanContext
    level: Level
    value: float | None = None
    label: str | None = None
    explanation: str | None = None
    token_usage: TokenUsage | None = None
    error_code: str | None = None
    error_message: str | None = None
    ignored_reference_input_fields: tuple[str, ...] = ()
    evaluation_dimension_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Diagnostics not on the wire (judge model id, prompt version); never used for scoring."""

    def __post_init__(self) -> None:
        if self.error_code is None and self.value is None and self.label is None:
            raise ValueError("a result needs a value, a label or an error_code")
        if self.error_code is not None and self.value is not None:
            raise ValueError("an errored result must not carry a value")
        if self.value is not None and not math.isfinite(self.value):
            # NaN/inf are not JSON and would silently poison every statistic computed from them.
            raise ValueError(f"a result value must be finite, got {self.value!r}")

    @property
    def failed(self) -> bool:
        return self.error_code is not None

    @property
    def scored(self) -> bool:
        return self.error_code is None and self.value is not None

    def to_wire(self) -> dict[str, Any]:
        """The result as `EvaluationResultContent` JSON (absent fields omitted, lengths clipped)."""
        out: dict[str, Any] = {
            "evaluatorId": self.evaluator_id,
            "evaluatorName": self.evaluator_name,
            "evaluatorArn": self.evaluator_arn,
        }
        if self.evaluation_dimension_name is not None:
            out["evaluationDimensionName"] = self.evaluation_dimension_name
        out["context"] = {"spanContext": self.context.to_wire()}
        if self.value is not None:
            out["value"] = self.value
        if self.label is not None:
            out["label"] = self.label
        if self.explanation is not None:
            out["explanation"] = clip(self.explanation, EXPLANATION_MAX)
        if self.token_usage is not None:
            out["tokenUsage"] = {
                "inputTokens": self.token_usage.input_tokens,
                "outputTokens": self.token_usage.output_tokens,
                "totalTokens": self.token_usage.total_tokens,
            }
        if self.error_code is not None:
            out["errorCode"] = clip(self.error_code, ERROR_CODE_MAX)
            out["errorMessage"] = clip(self.error_message or "", ERROR_MESSAGE_MAX)
        if self.ignored_reference_input_fields:
            out["ignoredReferenceInputFields"] = list(self.ignored_reference_input_fields)
        return out

    def to_record(self) -> dict[str, Any]:
        """The wire form plus `evaluationLevel` and `diagnostics`: what the pipeline stores per result."""
        out = self.to_wire()
        out["evaluationLevel"] = self.level
        if self.extra:
            out["diagnostics"] = dict(self.extra)
        return out

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """Read a `to_record()` (or plain wire) dict back.

        Without `evaluationLevel` the level is inferred from the span context: no traceId → SESSION,
        otherwise TRACE (a wire result cannot tell a trace's root span from a tool span).
        """
        span = data["context"]["spanContext"]
        level = data.get("evaluationLevel") or ("TRACE" if span.get("traceId") else "SESSION")
        if level not in LEVELS:
            raise ValueError(f"unknown evaluationLevel {level!r}")
        usage = data.get("tokenUsage")
        return cls(
            evaluator_id=data["evaluatorId"],
            evaluator_name=data["evaluatorName"],
            evaluator_arn=data["evaluatorArn"],
            context=SpanContext(span["sessionId"], span.get("traceId"), span.get("spanId")),
            level=cast(Level, level),
            value=data.get("value"),
            label=data.get("label"),
            explanation=data.get("explanation"),
            token_usage=None if usage is None else TokenUsage(usage["inputTokens"], usage["outputTokens"]),
            error_code=data.get("errorCode"),
            error_message=data.get("errorMessage"),
            ignored_reference_input_fields=tuple(data.get("ignoredReferenceInputFields") or ()),
            evaluation_dimension_name=data.get("evaluationDimensionName"),
            extra=dict(data.get("diagnostics") or {}),
        )
