"""What every evaluator is: an identity, a level, the targets it scores and a way to score one.

Targets follow the level: SESSION → the session, TRACE → each turn, TOOL_CALL → each tool call.
`EvaluatorIdentity` builds results so every evaluator fills `EvaluationResultContent` the same way
(span context, ignoredReferenceInputFields, clipping).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from batcheval.judges.base import TokenUsage
from batcheval.results.records import EvaluationResult, Level, SpanContext
from batcheval.traces.model import Session, ToolCall, Turn

if TYPE_CHECKING:
    from batcheval.evaluators.ground_truth import SessionReferences


@dataclass(frozen=True, slots=True)
class Target:
    """One thing to score: a session, one of its turns, or one tool call of a turn."""

    session: Session
    level: Level
    turn_index: int | None = None
    tool_index: int | None = None

    @property
    def turn(self) -> Turn | None:
        return None if self.turn_index is None else self.session.turns[self.turn_index]

    @property
    def tool_call(self) -> ToolCall | None:
        turn = self.turn
        if turn is None or self.tool_index is None:
            return None
        return turn.tool_calls[self.tool_index]

    @property
    def span_context(self) -> SpanContext:
        turn = self.turn
        if turn is None:
            return SpanContext(self.session.session_id)
        call = self.tool_call
        span_id = call.span_id if call is not None else turn.span_id
        return SpanContext(self.session.session_id, trace_id=turn.trace_id, span_id=span_id or None)


def targets_at(session: Session, level: Level) -> list[Target]:
    """Every target of `level` in `session`, in time order."""
    if level == "SESSION":
        return [Target(session, level)]
    if level == "TRACE":
        return [Target(session, level, turn_index=i) for i in range(len(session.turns))]
    return [
        Target(session, level, turn_index=i, tool_index=j)
        for i, turn in enumerate(session.turns)
        for j in range(len(turn.tool_calls))
    ]


@dataclass(frozen=True, slots=True)
class EvaluatorIdentity:
    """Who produced a result; also the factory for that evaluator's results."""

    evaluator_id: str
    evaluator_name: str
    evaluator_arn: str

    def result(
        self,
        target: Target,
        refs: SessionReferences,
        *,
        value: float | None = None,
        label: str | None = None,
        explanation: str | None = None,
        usage: TokenUsage | None = None,
        used_fields: tuple[str, ...] = (),
        dimension: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> EvaluationResult:
        """A verdict on `target`; reference fields not in `used_fields` are reported as ignored."""
        return self._build(
            target,
            refs,
            used_fields,
            dimension,
            extra,
            value=value,
            label=label,
            explanation=explanation,
            token_usage=usage,
        )

    def error(
        self,
        target: Target,
        refs: SessionReferences,
        code: str,
        message: str,
        *,
        usage: TokenUsage | None = None,
        used_fields: tuple[str, ...] = (),
        dimension: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> EvaluationResult:
        """An unscored result on `target`: no value, `code` and `message` say why."""
        return self._build(
            target,
            refs,
            used_fields,
            dimension,
            extra,
            error_code=code,
            error_message=message,
            token_usage=usage,
        )

    def _build(
        self,
        target: Target,
        refs: SessionReferences,
        used_fields: tuple[str, ...],
        dimension: str | None,
        extra: dict[str, Any] | None,
        **fields: Any,
    ) -> EvaluationResult:
        return EvaluationResult(
            evaluator_id=self.evaluator_id,
            evaluator_name=self.evaluator_name,
            evaluator_arn=self.evaluator_arn,
            context=target.span_context,
            level=target.level,
            ignored_reference_input_fields=refs.ignored_fields(target, used_fields),
            evaluation_dimension_name=dimension,
            extra=dict(extra or {}),
            **fields,
        )


@runtime_checkable
class Evaluator(Protocol):
    """A runnable evaluator. Implementations are immutable and safe to call from many threads."""

    @property
    def identity(self) -> EvaluatorIdentity: ...

    @property
    def level(self) -> Level: ...

    def targets(self, session: Session) -> list[Target]:
        """What this evaluator scores in `session` (usually `targets_at(session, level)`)."""
        ...

    def evaluate(self, target: Target, refs: SessionReferences) -> list[EvaluationResult]:
        """Results for one target: one, or one per dimension. Never raises for bad data or judges."""
        ...
