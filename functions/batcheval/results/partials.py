"""Mergeable evaluatorSummaries: per-batch partials that add up to the job's summaries.

A job of 1,000,000 sessions * 10 evaluators makes ~10 million results; no single Lambda can read
them all back within 15 minutes. So every batch folds its own results into a `SummaryAccumulator`,
stores `to_json()` (a few KB), and the aggregate step merges the partials (`from_json`, `merge`)
and calls `summaries()`. Merging is associative and, except for which test scenarios are kept
past the cap, commutative; the summaries equal `aggregate.summarize` over all results in batch
order, field for field, under the rules below.

What is exact, and what is bounded (per group = evaluatorId * evaluationDimensionName):

* Counts (totalEvaluated, totalFailed, count, unscored), label and errorCode distributions, token
  totals, pass counts (the policy is applied when a result is added): integers, exact.
* averageScore / mean: the sum of scores is kept EXACTLY as an integer multiple of 2^-1074 (every
  finite double is one), so the merged mean is `fsum(all scores) / n`, bit for bit.
* Score distribution: an exact histogram (value → count) while the group has at most
  `exact_max_distinct` distinct values (default 1,000). Built-in evaluators score on scales of ≤ 7
  values, so for them everything below is exact at any size. With more distinct values (continuous
  custom scores) the histogram becomes a relative-error quantile sketch (log-spaced buckets,
  DDSketch-style, relative accuracy alpha = 0.5%); its bucket counts add, so the sketch does not
  depend on how the data was split or merged.
* min, max: exact. p50, p90: exact in histogram mode (the same interpolation between order
  statistics as `percentile`). In sketch mode each order statistic x is reported as a value
  within alpha·|x| of it (for 1e-300 ≤ |x| ≤ 1e300), so the interpolated percentile is within
  alpha·max(|x_lo|, |x_hi|) of the exact one; the summary then says so (`quantileSketch`).
* stddev: exact-rational Σ(v - mean)² from the exact Σv and Σv² (histogram mode: each term
  rounded exactly as `summarize` rounds it, so bit-identical; sketch mode: rounded once, within
  ~1e-15 relative of `summarize`, which rounds each term).
* 95% CI: the bootstrap cannot merge (it resamples the raw values), but it only runs for n ≤ 1,000
  and the histogram is exact for any group that small (n ≥ distinct values), so the merged summary
  rebuilds the sorted scores and runs the very same seeded bootstrap. Above 1,000 scores the CI is
  the normal interval mean ± 1.96·s/√n from the exact mean and stddev, as `summarize` does.

Per testScenarioId breakdown (counts, averageScore, passRate per scenario, exact): the first
`MAX_SCENARIOS` scenario ids per group in add/merge order; results of later ones are counted in
`testScenariosOmittedResults` (the JSONL export has every result). Judge tokens are totalled per
judge model (`extra["judgeModelId"]`), with a list-price cost estimate (`results.pricing`).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, cast

from batcheval.results.pricing import PRICE_SOURCE, estimated_cost_usd
from batcheval.results.records import EvaluationResult
from batcheval.results.statistics import (
    BOOTSTRAP_MAX_N,
    EvaluatorSummary,
    Polarity,
    ScorePolicy,
    mean_ci95,
    normal_ci95,
    passes,
)

FORMAT_VERSION = 1
EXACT_MAX_DISTINCT = 1_000
"""Distinct values a group's histogram keeps before it becomes a sketch (≥ BOOTSTRAP_MAX_N)."""
SKETCH_RELATIVE_ACCURACY = 0.005
MAX_SCENARIOS = 100
"""Test scenarios broken down per group: bounds a summary that is stored in one DynamoDB item."""
UNKNOWN_JUDGE_MODEL = "unknown"
"""Token usage from a result that does not name its judge model (never priced)."""

_SHIFT = 1074
"""Every finite double is an integer multiple of 2^-1074: sums scaled by 2^1074 are exact ints."""
_GAMMA = (1 + SKETCH_RELATIVE_ACCURACY) / (1 - SKETCH_RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
_MAX_EXP = 709.0


def _scaled(value: float) -> int:
    """`value` * 2^1074, exactly."""
    numerator, denominator = value.as_integer_ratio()
    return numerator << (_SHIFT - denominator.bit_length() + 1)


def _to_float(scaled: int, shift: int = _SHIFT) -> float:
    """scaled * 2^-shift, correctly rounded (int / int true division rounds correctly)."""
    return scaled / (1 << shift)


def _pack(value: int) -> str:
    """An exact integer as compact hex: mantissa (trailing zero bits stripped) and exponent."""
    if value == 0:
        return "0"
    zeros = (value & -value).bit_length() - 1
    return f"{value >> zeros:x}p{zeros}"


def _unpack(text: str) -> int:
    if text == "0":
        return 0
    mantissa, _, zeros = text.partition("p")
    return int(mantissa, 16) << int(zeros)


def _bucket(magnitude: float) -> int:
    return math.ceil(math.log(magnitude) / _LOG_GAMMA)


def _representative(key: int) -> float:
    """The value within alpha (relative) of every magnitude in bucket `key`: (gamma^(k-1), gamma^k]."""
    return 2 * math.exp(min(key * _LOG_GAMMA, _MAX_EXP)) / (_GAMMA + 1)


def _add_count(counts: dict[Any, int], key: Any, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


class _Scores:
    """One group's score distribution: an exact histogram, or a sketch plus exact Σv, Σv²."""

    __slots__ = ("exact", "high", "low", "n", "negative", "positive", "sum1", "sum2", "zeros")

    def __init__(self) -> None:
        self.exact: dict[float, int] | None = {}
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}
        self.zeros = 0
        self.n = 0
        self.sum1 = 0
        """Σv * 2^1074 (sketch mode only; the histogram holds it otherwise)."""
        self.sum2 = 0
        """Σv² * 2^2148 (sketch mode only)."""
        self.low = math.inf
        self.high = -math.inf

    def add(self, value: float, count: int, limit: int | None) -> None:
        if self.exact is not None:
            _add_count(self.exact, value, count)
            self.n += count
            if limit is not None and len(self.exact) > limit:
                self._to_sketch()
            return
        self._sketch_add(value, count)

    def _sketch_add(self, value: float, count: int) -> None:
        self.n += count
        scaled = _scaled(value)
        self.sum1 += scaled * count
        self.sum2 += scaled * scaled * count
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        if value > 0:
            _add_count(self.positive, _bucket(value), count)
        elif value < 0:
            _add_count(self.negative, _bucket(-value), count)
        else:
            self.zeros += count

    def _to_sketch(self) -> None:
        histogram = cast(dict[float, int], self.exact)
        self.exact = None
        self.n = 0
        for value, count in histogram.items():
            self._sketch_add(value, count)

    def merge_json(self, data: Mapping[str, Any], limit: int | None) -> None:
        """Fold in another distribution's `to_json()`."""
        if "x" in data:
            for value, count in data["x"]:
                self.add(float(value), int(count), limit)
            return
        if self.exact is not None:
            self._to_sketch()
        self.n += int(data["n"])
        self.sum1 += _unpack(data["s1"])
        self.sum2 += _unpack(data["s2"])
        self.low = min(self.low, float(data["lo"]))
        self.high = max(self.high, float(data["hi"]))
        self.zeros += int(data["z"])
        for key, count in data["p"]:
            _add_count(self.positive, int(key), int(count))
        for key, count in data["m"]:
            _add_count(self.negative, int(key), int(count))

    def items(self) -> list[tuple[float, int]]:
        """(value, count) in ascending value order; sketch values are clamped bucket representatives."""
        if self.exact is not None:
            return sorted(self.exact.items())
        out = [(-_representative(k), c) for k, c in sorted(self.negative.items(), reverse=True)]
        if self.zeros:
            out.append((0.0, self.zeros))
        out += [(_representative(k), c) for k, c in sorted(self.positive.items())]
        return [(min(max(v, self.low), self.high), c) for v, c in out]

    def statistics(self, seed: int) -> dict[str, Any]:
        """mean, min, max, p50, p90, stddev, ci95 exactly as `aggregate.summarize` computes them."""
        items = self.items()
        n = self.n
        cumulative = list(accumulate(c for _, c in items))

        def order_statistic(rank: int) -> float:
            return items[bisect_right(cumulative, rank)][0]

        def pct(q: float) -> float:
            # `statistics.percentile`'s interpolation, reading order statistics from the counts.
            pos = (n - 1) * q
            lo = math.floor(pos)
            x_lo, x_hi = order_statistic(lo), order_statistic(min(lo + 1, n - 1))
            return x_lo + (x_hi - x_lo) * (pos - lo)

        if self.exact is not None:
            total = sum(_scaled(v) * c for v, c in items)
            mean = _to_float(total) / n
            # Each term rounded as `summarize` rounds it, then summed exactly (as fsum does).
            sum_squares = _to_float(sum(_scaled((v - mean) ** 2) * c for v, c in items))
            low, high = items[0][0], items[-1][0]
        else:
            mean = _to_float(self.sum1) / n
            m = _scaled(mean)
            squares_exact = self.sum2 - 2 * m * self.sum1 + n * m * m  # * 2^2148
            sum_squares = _to_float(squares_exact, 2 * _SHIFT)
            low, high = self.low, self.high
        out: dict[str, Any] = {"mean": mean, "min": low, "max": high, "p50": pct(0.5), "p90": pct(0.9)}
        if n < 2:
            return out
        sd = math.sqrt(sum_squares / (n - 1))
        out["stddev"] = sd
        if n <= BOOTSTRAP_MAX_N:
            # n ≤ 1,000 ≤ exact_max_distinct: the histogram is exact, so these are the sorted scores.
            ci = mean_ci95([v for v, c in items for _ in range(c)], seed=seed)
            assert ci is not None
            out["ci95"] = {"low": ci[0], "high": ci[1], "method": "bootstrap"}
        else:
            low_ci, high_ci = normal_ci95(mean, sd, n)
            out["ci95"] = {"low": low_ci, "high": high_ci, "method": "normal"}
        if self.exact is None:
            out["quantileSketch"] = {"relativeAccuracy": SKETCH_RELATIVE_ACCURACY}
        return out

    def to_json(self) -> dict[str, Any]:
        if self.exact is not None:
            return {"x": [[v, c] for v, c in self.exact.items()]}
        return {
            "n": self.n,
            "s1": _pack(self.sum1),
            "s2": _pack(self.sum2),
            "lo": self.low,
            "hi": self.high,
            "z": self.zeros,
            "p": [[k, c] for k, c in self.positive.items()],
            "m": [[k, c] for k, c in self.negative.items()],
        }


@dataclass(slots=True)
class _Scenario:
    """One test scenario's counts within a group; its score sum is exact (`total` = sum * 2^1074)."""

    evaluated: int = 0
    failed: int = 0
    count: int = 0
    total: int = 0
    passed: int = 0

    def to_json(self) -> list[Any]:
        return [self.evaluated, self.failed, self.count, _pack(self.total), self.passed]

    def summary(self, policy: ScorePolicy) -> dict[str, Any]:
        out: dict[str, Any] = {
            "totalEvaluated": self.evaluated,
            "totalFailed": self.failed,
            "count": self.count,
        }
        if self.count:
            out["averageScore"] = _to_float(self.total) / self.count
            if policy.threshold is not None:
                out["passRate"] = self.passed / self.count
        return out


class _Group:
    """Everything one (evaluatorId, evaluationDimensionName) summary needs, in mergeable form."""

    __slots__ = (
        "errors",
        "evaluated",
        "failed",
        "judge_tokens",
        "labels",
        "passed",
        "policy",
        "scenarios",
        "scenarios_omitted",
        "scores",
        "usage",
    )

    def __init__(self, policy: ScorePolicy) -> None:
        self.policy = policy
        self.evaluated = 0
        self.failed = 0
        self.passed = 0
        self.scores = _Scores()
        self.labels: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.usage = [0, 0, 0]
        """[results reporting token usage, input tokens, output tokens]."""
        self.judge_tokens: dict[str, list[int]] = {}
        """judge model id → [input tokens, output tokens]."""
        self.scenarios: dict[str, _Scenario] = {}
        self.scenarios_omitted = 0

    def add(self, result: EvaluationResult, scenario_id: str | None, limit: int | None) -> None:
        passed = 0
        value = result.value
        if result.error_code is not None:
            self.failed += 1
            _add_count(self.errors, result.error_code)
        else:
            self.evaluated += 1
            if result.label is not None:
                _add_count(self.labels, result.label)
            if value is not None:
                self.scores.add(value, 1, limit)
                passed = int(passes(value, self.policy))
                self.passed += passed
        usage = result.token_usage
        if usage is not None:
            self.usage[0] += 1
            self.usage[1] += usage.input_tokens
            self.usage[2] += usage.output_tokens
            model = str(result.extra.get("judgeModelId") or UNKNOWN_JUDGE_MODEL)
            tokens = self.judge_tokens.setdefault(model, [0, 0])
            tokens[0] += usage.input_tokens
            tokens[1] += usage.output_tokens
        if scenario_id is not None:
            ok = result.error_code is None
            scenario = self._scenario(scenario_id, 1)
            if scenario is not None:
                scenario.evaluated += ok
                scenario.failed += not ok
                if ok and value is not None:
                    scenario.count += 1
                    scenario.total += _scaled(value)
                    scenario.passed += passed

    def _scenario(self, scenario_id: str, results: int) -> _Scenario | None:
        """The scenario's counters; None (and `results` counted as omitted) past MAX_SCENARIOS."""
        scenario = self.scenarios.get(scenario_id)
        if scenario is None:
            if len(self.scenarios) >= MAX_SCENARIOS:
                self.scenarios_omitted += results
                return None
            scenario = self.scenarios[scenario_id] = _Scenario()
        return scenario

    def merge_json(self, data: Mapping[str, Any], limit: int | None) -> None:
        """Fold in another group's `to_json()` (scored under the same policy)."""
        policy = _policy_of(data)
        if policy != self.policy:
            raise ValueError(
                f"cannot merge partials scored under different policies: {self.policy} vs {policy}"
            )
        self.evaluated += int(data["ok"])
        self.failed += int(data["failed"])
        self.passed += int(data["passed"])
        self.scores.merge_json(data["scores"], limit)
        for label, count in data.get("labels", {}).items():
            _add_count(self.labels, label, int(count))
        for code, count in data.get("errors", {}).items():
            _add_count(self.errors, code, int(count))
        for i, count in enumerate(data.get("usage", ())):
            self.usage[i] += int(count)
        for model, (tokens_in, tokens_out) in data.get("judge", {}).items():
            tokens = self.judge_tokens.setdefault(model, [0, 0])
            tokens[0] += int(tokens_in)
            tokens[1] += int(tokens_out)
        for scenario_id, (ok, failed, count, total, passed) in data.get("scenarios", {}).items():
            scenario = self._scenario(scenario_id, ok + failed)
            if scenario is not None:
                scenario.evaluated += ok
                scenario.failed += failed
                scenario.count += count
                scenario.total += _unpack(total)
                scenario.passed += passed
        self.scenarios_omitted += int(data.get("omitted", 0))

    def extended(self, seed: int) -> dict[str, Any]:
        n = self.scores.n
        out: dict[str, Any] = {
            "count": n,
            "unscored": self.evaluated + self.failed - n,
            "labelDistribution": dict(sorted(self.labels.items())),
        }
        if self.errors:
            out["errorCodes"] = dict(sorted(self.errors.items()))
        results_with_usage, tokens_in, tokens_out = self.usage
        if results_with_usage:
            out["tokenUsage"] = {
                "inputTokens": tokens_in,
                "outputTokens": tokens_out,
                "totalTokens": tokens_in + tokens_out,
            }
            out["averageTokenUsage"] = {k: v / results_with_usage for k, v in out["tokenUsage"].items()}
        if n:
            statistics = self.scores.statistics(seed)
            sketch = statistics.pop("quantileSketch", None)
            out.update(statistics)
            if self.policy.threshold is not None:
                out["passRate"] = self.passed / n
                out["passThreshold"] = self.policy.threshold
                out["polarity"] = self.policy.polarity
            if sketch is not None:
                out["quantileSketch"] = sketch
        out.update(_judge_cost(self.judge_tokens))
        if self.scenarios:
            out["byTestScenario"] = {sid: s.summary(self.policy) for sid, s in self.scenarios.items()}
        if self.scenarios_omitted:
            out["testScenariosOmittedResults"] = self.scenarios_omitted
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": [self.policy.polarity, self.policy.threshold],
            "ok": self.evaluated,
            "failed": self.failed,
            "passed": self.passed,
            "scores": self.scores.to_json(),
        }
        optional = {
            "labels": self.labels,
            "errors": self.errors,
            "judge": self.judge_tokens,
            "scenarios": {sid: s.to_json() for sid, s in self.scenarios.items()},
            "omitted": self.scenarios_omitted,
        }
        out.update({k: v for k, v in optional.items() if v})
        if self.usage[0]:
            out["usage"] = self.usage
        return out


def _policy_of(group: Mapping[str, Any]) -> ScorePolicy:
    polarity, threshold = group["policy"]
    return ScorePolicy(cast(Polarity, polarity), threshold)


def _judge_cost(judge_tokens: Mapping[str, list[int]]) -> dict[str, Any]:
    """`estimatedJudgeCostUsd` over the priced models and `unpricedJudgeModels` for the rest."""
    out: dict[str, Any] = {}
    priced = [estimated_cost_usd(m, t[0], t[1]) for m, t in judge_tokens.items()]
    costs = [c for c in priced if c is not None]
    if costs:
        out["estimatedJudgeCostUsd"] = math.fsum(costs)
    unpriced = sorted(m for m, c in zip(judge_tokens, priced, strict=True) if c is None)
    if unpriced:
        out["unpricedJudgeModels"] = unpriced
    return out


class SummaryAccumulator:
    """Folds results into mergeable per-group state; `summaries()` gives evaluatorSummaries.

    `policy_for(evaluatorId)` is applied as results are added (pass counts must not need the
    values again); partials scored under different policies refuse to merge. `exact_max_distinct`
    None keeps every group exact (what in-memory `summarize` uses); the pipeline keeps the default.
    """

    def __init__(
        self,
        *,
        policy_for: Callable[[str], ScorePolicy] | None = None,
        exact_max_distinct: int | None = EXACT_MAX_DISTINCT,
    ) -> None:
        if exact_max_distinct is not None and exact_max_distinct < BOOTSTRAP_MAX_N:
            raise ValueError(f"exact_max_distinct must be at least {BOOTSTRAP_MAX_N} (the bootstrap's n)")
        self._policy_for = policy_for
        self._limit = exact_max_distinct
        self._groups: dict[tuple[str, str | None], _Group] = {}

    def _group(self, evaluator_id: str, dimension: str | None, policy: ScorePolicy | None = None) -> _Group:
        key = (evaluator_id, dimension)
        group = self._groups.get(key)
        if group is None:
            if policy is None:
                policy = self._policy_for(evaluator_id) if self._policy_for is not None else ScorePolicy()
            group = self._groups[key] = _Group(policy)
        return group

    def add(self, result: EvaluationResult, *, test_scenario_id: str | None = None) -> None:
        self._group(result.evaluator_id, result.evaluation_dimension_name).add(
            result, test_scenario_id, self._limit
        )

    def merge(self, other: SummaryAccumulator) -> None:
        """Fold `other` in; groups new to this accumulator follow in `other`'s order."""
        self.merge_json(other.to_json())

    def merge_json(self, partial: Mapping[str, Any]) -> None:
        """Fold in a `to_json()` partial without building an accumulator for it (the aggregate path)."""
        if partial.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported summary partial version {partial.get('version')!r}")
        for evaluator_id, dimension, data in partial["groups"]:
            group = self._groups.get((evaluator_id, dimension))
            if group is None:
                group = self._groups[(evaluator_id, dimension)] = _Group(_policy_of(data))
            group.merge_json(data, self._limit)

    def __len__(self) -> int:
        """Results folded in so far."""
        return sum(g.evaluated + g.failed for g in self._groups.values())

    def summaries(self, *, seed: int = 0) -> list[EvaluatorSummary]:
        """One summary per (evaluatorId, evaluationDimensionName), in first-seen order."""
        out = []
        for (evaluator_id, dimension), group in self._groups.items():
            n = group.scores.n
            extended = group.extended(seed)
            out.append(
                EvaluatorSummary(
                    evaluator_id=evaluator_id,
                    evaluation_dimension_name=dimension,
                    total_evaluated=group.evaluated,
                    total_failed=group.failed,
                    average_score=extended["mean"] if n else None,
                    extended=extended,
                )
            )
        return out

    def judge_usage(self) -> dict[str, Any]:
        """Judge tokens of the whole job per model, with the list-price cost estimate."""
        models: dict[str, list[int]] = {}
        for group in self._groups.values():
            for model, (tokens_in, tokens_out) in group.judge_tokens.items():
                tokens = models.setdefault(model, [0, 0])
                tokens[0] += tokens_in
                tokens[1] += tokens_out
        by_model: dict[str, Any] = {}
        for model, (tokens_in, tokens_out) in sorted(models.items()):
            entry: dict[str, Any] = {"inputTokens": tokens_in, "outputTokens": tokens_out}
            cost = estimated_cost_usd(model, tokens_in, tokens_out)
            if cost is not None:
                entry["estimatedCostUsd"] = cost
            by_model[model] = entry
        out: dict[str, Any] = {
            "inputTokens": sum(t[0] for t in models.values()),
            "outputTokens": sum(t[1] for t in models.values()),
            "byModel": by_model,
        }
        out["totalTokens"] = out["inputTokens"] + out["outputTokens"]
        out.update(_judge_cost(models))
        out["priceSource"] = PRICE_SOURCE
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, compact state (floats round-trip exactly through JSON's repr)."""
        return {
            "version": FORMAT_VERSION,
            "groups": [[e, d, g.to_json()] for (e, d), g in self._groups.items()],
        }

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], *, exact_max_distinct: int | None = EXACT_MAX_DISTINCT
    ) -> SummaryAccumulator:
        """Read a `to_json()` back; its groups keep the policies they were scored under."""
        accumulator = cls(exact_max_distinct=exact_max_distinct)
        accumulator.merge_json(data)
        return accumulator


def merge_all(
    partials: Iterable[Mapping[str, Any]], *, exact_max_distinct: int | None = EXACT_MAX_DISTINCT
) -> SummaryAccumulator:
    """Merge `to_json()` partials in the given order (batch order) with memory bounded by one partial."""
    total = SummaryAccumulator(exact_max_distinct=exact_max_distinct)
    for partial in partials:
        total.merge_json(partial)
    return total
