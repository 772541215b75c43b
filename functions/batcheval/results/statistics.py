"""The statistics primitives every summary shares: score policy, the summary shape, percentile, CI.

`aggregate.summarize` and `partials.SummaryAccumulator` both build on these, so a summary computed
from merged per-batch partials uses the very same formulas as one computed over all results.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

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
    """95% CI of the mean (`aggregate` docstring for the method); None below two values."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    if n > BOOTSTRAP_MAX_N:
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
        return normal_ci95(mean, sd, n)
    rng = random.Random(seed)
    means = sorted(math.fsum(rng.choices(values, k=n)) / n for _ in range(BOOTSTRAP_RESAMPLES))
    return percentile(means, 0.025), percentile(means, 0.975)


def normal_ci95(mean: float, sd: float, n: int) -> tuple[float, float]:
    """mean ± 1.96·s/√n: the CLT interval, which needs only sums and so merges from partials."""
    half = Z_95 * sd / math.sqrt(n)
    return mean - half, mean + half


def passes(value: float, policy: ScorePolicy) -> bool:
    """Whether `value` meets the policy's threshold, read in the evaluator's polarity."""
    if policy.threshold is None:
        return False
    if policy.polarity == "higher_is_better":
        return value >= policy.threshold
    return value <= policy.threshold
