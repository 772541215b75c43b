"""A result builder for results tests: a built-in's result on one span, fields overridable."""

from __future__ import annotations

from typing import Any

from batcheval.results.records import EvaluationResult, SpanContext, builtin_arn


def make_result(
    evaluator_id: str = "Builtin.Helpfulness", level: str = "TRACE", **fields: Any
) -> EvaluationResult:
    base: dict[str, Any] = {
        "evaluator_id": evaluator_id,
        "evaluator_name": evaluator_id,
        "evaluator_arn": builtin_arn(evaluator_id),
        "context": SpanContext("sess", "a" * 32, "b" * 16),
        "level": level,
    }
    return EvaluationResult(**{**base, **fields})
