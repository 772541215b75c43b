"""evaluatorSummaries as GetBatchEvaluation returns them, plus extended statistics.

Grouping: one summary per (evaluatorId, evaluationDimensionName), in first-seen order.
Counts follow AgentCore's definitions, per result (a session for SESSION evaluators, a trace or a
tool call for the others): `totalEvaluated` = results the evaluator produced without error (scored,
or labelled by a categorical scale); `totalFailed` = results with an errorCode. Their sum is every
result of the group.

Empty/NaN policy: statistics are computed over *scored* results only (no errorCode, a numeric
value). With none, `statistics` is `{}` (no `averageScore`, never 0) and `extendedStatistics` holds
only the counts and the label distribution. stddev and the 95% CI need ≥ 2 scores and are omitted
otherwise. NaN never appears in the output.

95% CI of the mean: a percentile bootstrap (1,000 resamples, `random.Random(seed)`, seed 0 unless
given) for up to 1,000 scores; above that the normal approximation mean ± 1.96·s/√n, where the
bootstrap and the CLT agree to well within the reported precision. Percentiles (p50, p90) use
linear interpolation between order statistics. `passRate` = share of scored results that pass the
threshold, compared with the evaluator's polarity (≥ when higher is better, ≤ when lower is).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from batcheval.results.records import EvaluationResult

Polarity = Literal["higher_is_better", "lower_is_better"]
BOOTSTRAP_RESAMPLES = 1_000
BOOTSTRAP_MAX_N = 1_000
Z_95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class ScorePolicy:
    """How to read one evaluator's scores: its polarity and pass threshold (None = no pass rate)."""

    polarity: Polarity = "higher_is_better"
    threshold: float | None = 0.5


@dataclass(frozen=True, slots=True)
class EvaluatorSummary:
    evaluator_id: str
    evaluation_dimension_name: str | None
    total_evaluated: int
    total_failed: int
    average_score: float | None
    extended: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self, *, extended: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"evaluatorId": self.evaluator_id}
        if self.evaluation_dimension_name is not None:
            out["evaluationDimensionName"] = self.evaluation_dimension_name
        out["statistics"] = {} if self.average_score is None else {"averageScore": self.average_score}
        out["totalEvaluated"] = self.total_evaluated
        out["totalFailed"] = self.total_failed
        if extended:
            out["extendedStatistics"] = dict(self.extended)
        return out


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile of already sorted, non-empty values (q in [0, 1])."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def mean_ci95(values: Sequence[float], *, seed: int = 0) -> tuple[float, float] | None:
    """95% CI of the mean (module docstring for the method); None below two values."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    if n > BOOTSTRAP_MAX_N:
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
        half = Z_95 * sd / math.sqrt(n)
        return mean - half, mean + half
    rng = random.Random(seed)
    means = sorted(math.fsum(rng.choices(values, k=n)) / n for _ in range(BOOTSTRAP_RESAMPLES))
    return percentile(means, 0.025), percentile(means, 0.975)


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


def summarize(
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


@dataclass(frozen=True, slots=True)
class SessionCounts:
    """GetBatchEvaluation's session counters for a finished set of sessions."""

    completed: int
    """Sessions every evaluator succeeded on (`numberOfSessionsCompleted`)."""
    failed: int
    """Sessions with at least one errored result (`numberOfSessionsFailed`)."""


def session_counts(results: Iterable[EvaluationResult], session_ids: Iterable[str]) -> SessionCounts:
    """Completed/failed counts over `session_ids`.

    A session with no result at all (every evaluator was not applicable) counts as completed: it was
    evaluated and nothing failed. Results for sessions outside `session_ids` are ignored.
    """
    wanted = set(session_ids)
    failed = {r.context.session_id for r in results if r.failed and r.context.session_id in wanted}
    return SessionCounts(completed=len(wanted) - len(failed), failed=len(failed))
