"""The pre-accumulator `summarize`, kept verbatim as the test oracle: a plain in-memory computation
over every result, so the mergeable accumulator is checked against an independent implementation."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from batcheval.results.records import EvaluationResult
from batcheval.results.statistics import BOOTSTRAP_MAX_N, EvaluatorSummary, ScorePolicy, mean_ci95, percentile


def _passes(value: float, policy: ScorePolicy) -> bool:
    assert policy.threshold is not None
    if policy.polarity == "higher_is_better":
        return value >= policy.threshold
    return value <= policy.threshold


def _extended(group: list[EvaluationResult], policy: ScorePolicy, seed: int) -> dict[str, Any]:
    scores = sorted(r.value for r in group if r.scored and r.value is not None)
    labels = Counter(r.label for r in group if r.error_code is None and r.label is not None)
    errors = Counter(r.error_code for r in group if r.error_code is not None)
    out: dict[str, Any] = {
        "count": len(scores),
        "unscored": len(group) - len(scores),
        "labelDistribution": dict(sorted(labels.items())),
    }
    if errors:
        out["errorCodes"] = dict(sorted(errors.items()))
    tokens = [r.token_usage for r in group if r.token_usage is not None]
    if tokens:
        out["tokenUsage"] = {
            "inputTokens": sum(t.input_tokens for t in tokens),
            "outputTokens": sum(t.output_tokens for t in tokens),
            "totalTokens": sum(t.total_tokens for t in tokens),
        }
        # Per result that reports usage (the shape agentcore-cli reads as statistics.averageTokenUsage).
        out["averageTokenUsage"] = {k: v / len(tokens) for k, v in out["tokenUsage"].items()}
    if not scores:
        return out
    n = len(scores)
    mean = math.fsum(scores) / n
    out.update(
        mean=mean,
        min=scores[0],
        max=scores[-1],
        p50=percentile(scores, 0.5),
        p90=percentile(scores, 0.9),
    )
    if n >= 2:
        out["stddev"] = math.sqrt(math.fsum((v - mean) ** 2 for v in scores) / (n - 1))
        ci = mean_ci95(scores, seed=seed)
        if ci is not None:
            out["ci95"] = {
                "low": ci[0],
                "high": ci[1],
                "method": "bootstrap" if n <= BOOTSTRAP_MAX_N else "normal",
            }
    if policy.threshold is not None:
        out["passRate"] = sum(1 for v in scores if _passes(v, policy)) / n
        out["passThreshold"] = policy.threshold
        out["polarity"] = policy.polarity
    return out


def naive_summarize(
    results: Iterable[EvaluationResult],
    *,
    policy_for: Callable[[str], ScorePolicy] | None = None,
    seed: int = 0,
) -> list[EvaluatorSummary]:
    """One summary per (evaluatorId, evaluationDimensionName), first-seen order."""
    groups: dict[tuple[str, str | None], list[EvaluationResult]] = {}
    for result in results:
        groups.setdefault((result.evaluator_id, result.evaluation_dimension_name), []).append(result)
    summaries = []
    for (evaluator_id, dimension), group in groups.items():
        policy = policy_for(evaluator_id) if policy_for is not None else ScorePolicy()
        scores = [r.value for r in group if r.scored and r.value is not None]
        summaries.append(
            EvaluatorSummary(
                evaluator_id=evaluator_id,
                evaluation_dimension_name=dimension,
                total_evaluated=sum(1 for r in group if not r.failed),
                total_failed=sum(1 for r in group if r.failed),
                average_score=math.fsum(scores) / len(scores) if scores else None,
                extended=_extended(group, policy, seed),
            )
        )
    return summaries
