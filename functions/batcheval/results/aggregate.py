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

`summarize` is the in-memory entry point; it runs on the same `partials.SummaryAccumulator` the
pipeline merges from per-batch partials (kept exact here: every value in memory anyway), so there
is one implementation of every statistic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from batcheval.results.partials import SummaryAccumulator
from batcheval.results.records import EvaluationResult
from batcheval.results.statistics import (
    BOOTSTRAP_MAX_N,
    BOOTSTRAP_RESAMPLES,
    Z_95,
    EvaluatorSummary,
    Polarity,
    ScorePolicy,
    mean_ci95,
    percentile,
)

__all__ = [
    "BOOTSTRAP_MAX_N",
    "BOOTSTRAP_RESAMPLES",
    "Z_95",
    "EvaluatorSummary",
    "Polarity",
    "ScorePolicy",
    "SessionCounts",
    "mean_ci95",
    "percentile",
    "session_counts",
    "summarize",
]


def summarize(
    results: Iterable[EvaluationResult],
    *,
    policy_for: Callable[[str], ScorePolicy] | None = None,
    seed: int = 0,
) -> list[EvaluatorSummary]:
    """One summary per (evaluatorId, evaluationDimensionName), first-seen order."""
    accumulator = SummaryAccumulator(policy_for=policy_for, exact_max_distinct=None)
    for result in results:
        accumulator.add(result)
    return accumulator.summaries(seed=seed)


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
