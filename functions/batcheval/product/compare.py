"""Baseline vs candidate: paired per-session deltas, bootstrap CIs and a paired significance test.

Pairing: a session is matched by its `testScenarioId` when it has one, else by its session id
(several sessions of one scenario on a side are averaged first). Per evaluator (and dimension), a
unit's score is the mean of its scored results (TRACE and TOOL_CALL evaluators score several
targets per session). Units scored on only one side, or present on only one side, are listed as
unmatched, never silently dropped.

Effect = candidate - baseline, sign-flipped for lower-is-better evaluators, so a negative effect is
always worse. For each evaluator:
- the 95% CI of the mean effect is a percentile bootstrap over the pairs (`BOOTSTRAP_RESAMPLES`
  resamples, `random.Random(seed)`);
- the p-value is a two-sided paired sign-flip permutation test of "mean effect = 0": exact over all
  2^n sign patterns for n ≤ `EXACT_MAX_N`, else `PERMUTATIONS` seeded random patterns with the
  (count + 1) / (R + 1) estimate. It assumes only that, under no change, each pair's difference is
  as likely positive as negative (no normality).
An evaluator *regresses* when its mean effect < -min_delta and p < alpha; `--fail-on-regression`
exits 1 if any does. A session regresses on an evaluator when its effect < -min_delta.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batcheval.evaluators.registry import score_policy
from batcheval.results.aggregate import percentile

BOOTSTRAP_RESAMPLES = 2_000
PERMUTATIONS = 10_000
EXACT_MAX_N = 14


@dataclass(frozen=True, slots=True)
class Unit:
    """One matched unit's score on one side, with the explanations behind it."""

    score: float
    sessions: tuple[str, ...]
    explanations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SessionDelta:
    unit: str
    baseline: Unit
    candidate: Unit
    effect: float


@dataclass(frozen=True, slots=True)
class EvaluatorComparison:
    evaluator: str
    polarity: str
    pairs: int
    baseline_mean: float | None
    candidate_mean: float | None
    mean_effect: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    regressed: bool
    regressions: tuple[SessionDelta, ...]
    only_baseline: tuple[str, ...]
    only_candidate: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluator": self.evaluator,
            "polarity": self.polarity,
            "pairs": self.pairs,
            "baselineMean": self.baseline_mean,
            "candidateMean": self.candidate_mean,
            "meanEffect": self.mean_effect,
            "ci95": None if self.ci95 is None else {"low": self.ci95[0], "high": self.ci95[1]},
            "pValue": self.p_value,
            "regressed": self.regressed,
            "regressions": [
                {
                    "unit": d.unit,
                    "effect": d.effect,
                    "baseline": {
                        "score": d.baseline.score,
                        "sessions": list(d.baseline.sessions),
                        "explanations": list(d.baseline.explanations),
                    },
                    "candidate": {
                        "score": d.candidate.score,
                        "sessions": list(d.candidate.sessions),
                        "explanations": list(d.candidate.explanations),
                    },
                }
                for d in self.regressions
            ],
            "onlyInBaseline": list(self.only_baseline),
            "onlyInCandidate": list(self.only_candidate),
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline: str
    candidate: str
    matched_by: str
    alpha: float
    min_delta: float
    seed: int
    evaluators: tuple[EvaluatorComparison, ...]
    only_baseline: tuple[str, ...]
    only_candidate: tuple[str, ...]

    @property
    def regressed(self) -> bool:
        return any(e.regressed for e in self.evaluators)

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "matchedBy": self.matched_by,
            "alpha": self.alpha,
            "minDelta": self.min_delta,
            "seed": self.seed,
            "method": {
                "ci95": f"percentile bootstrap of the mean paired effect, {BOOTSTRAP_RESAMPLES} resamples",
                "pValue": f"two-sided paired sign-flip permutation test (exact up to n={EXACT_MAX_N}, "
                f"else {PERMUTATIONS} seeded permutations)",
            },
            "regressed": self.regressed,
            "evaluators": [e.to_json() for e in self.evaluators],
            "unmatchedSessions": {
                "onlyInBaseline": list(self.only_baseline),
                "onlyInCandidate": list(self.only_candidate),
            },
        }


def _unit_key(record: Mapping[str, Any]) -> str:
    return record.get("testScenarioId") or record["context"]["spanContext"]["sessionId"]


def _evaluator_key(record: Mapping[str, Any]) -> str:
    dimension = record.get("evaluationDimensionName")
    return record["evaluatorId"] + (f"/{dimension}" if dimension else "")


def _units(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, dict[str, Unit]], set[str]]:
    """evaluator key → unit key → Unit (scored results only); and every unit key seen."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    sessions: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    notes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    seen: set[str] = set()
    for record in records:
        unit = _unit_key(record)
        seen.add(unit)
        if record.get("errorCode") is not None or record.get("value") is None:
            continue
        evaluator = _evaluator_key(record)
        values[evaluator][unit].append(float(record["value"]))
        sessions[evaluator][unit].add(record["context"]["spanContext"]["sessionId"])
        if record.get("explanation"):
            notes[evaluator][unit].append(record["explanation"])
    units = {
        evaluator: {
            unit: Unit(
                math.fsum(v) / len(v), tuple(sorted(sessions[evaluator][unit])), tuple(notes[evaluator][unit])
            )
            for unit, v in by_unit.items()
        }
        for evaluator, by_unit in values.items()
    }
    return units, seen


def bootstrap_ci(effects: Sequence[float], *, seed: int) -> tuple[float, float] | None:
    n = len(effects)
    if n < 2:
        return None
    rng = random.Random(seed)
    means = sorted(math.fsum(rng.choices(effects, k=n)) / n for _ in range(BOOTSTRAP_RESAMPLES))
    return percentile(means, 0.025), percentile(means, 0.975)


def sign_flip_p_value(effects: Sequence[float], *, seed: int) -> float | None:
    """Two-sided p-value of the paired sign-flip permutation test (module docstring)."""
    n = len(effects)
    if n == 0:
        return None
    observed = abs(math.fsum(effects))
    tolerance = 1e-12 * max(1.0, observed)
    if n <= EXACT_MAX_N:
        total = extreme = 0
        for signs in itertools.product((1, -1), repeat=n):
            total += 1
            if abs(math.fsum(s * e for s, e in zip(signs, effects, strict=True))) >= observed - tolerance:
                extreme += 1
        return extreme / total
    rng = random.Random(seed)
    extreme = 0
    for _ in range(PERMUTATIONS):
        flipped = math.fsum(e if rng.random() < 0.5 else -e for e in effects)
        if abs(flipped) >= observed - tolerance:
            extreme += 1
    return (extreme + 1) / (PERMUTATIONS + 1)


def compare(
    baseline_label: str,
    baseline: Sequence[Mapping[str, Any]],
    candidate_label: str,
    candidate: Sequence[Mapping[str, Any]],
    *,
    alpha: float = 0.05,
    min_delta: float = 0.0,
    seed: int = 0,
) -> Comparison:
    base_units, base_seen = _units(baseline)
    cand_units, cand_seen = _units(candidate)
    by_scenario = any(r.get("testScenarioId") for r in [*baseline, *candidate])
    evaluators = []
    for evaluator in dict.fromkeys([*base_units, *cand_units]):
        policy = score_policy(evaluator.split("/", 1)[0])
        sign = 1.0 if policy.polarity == "higher_is_better" else -1.0
        base, cand = base_units.get(evaluator, {}), cand_units.get(evaluator, {})
        shared = [u for u in base if u in cand]
        deltas = [SessionDelta(u, base[u], cand[u], sign * (cand[u].score - base[u].score)) for u in shared]
        effects = [d.effect for d in deltas]
        mean_effect = math.fsum(effects) / len(effects) if effects else None
        p_value = sign_flip_p_value(effects, seed=seed)
        evaluators.append(
            EvaluatorComparison(
                evaluator=evaluator,
                polarity=policy.polarity,
                pairs=len(deltas),
                baseline_mean=_mean([base[u].score for u in shared]),
                candidate_mean=_mean([cand[u].score for u in shared]),
                mean_effect=mean_effect,
                ci95=bootstrap_ci(effects, seed=seed),
                p_value=p_value,
                regressed=mean_effect is not None
                and p_value is not None
                and mean_effect < -min_delta
                and p_value < alpha,
                regressions=tuple(
                    sorted((d for d in deltas if d.effect < -min_delta), key=lambda d: (d.effect, d.unit))
                ),
                only_baseline=tuple(sorted(u for u in base if u not in cand)),
                only_candidate=tuple(sorted(u for u in cand if u not in base)),
            )
        )
    return Comparison(
        baseline=baseline_label,
        candidate=candidate_label,
        matched_by="testScenarioId, else sessionId" if by_scenario else "sessionId",
        alpha=alpha,
        min_delta=min_delta,
        seed=seed,
        evaluators=tuple(evaluators),
        only_baseline=tuple(sorted(base_seen - cand_seen)),
        only_candidate=tuple(sorted(cand_seen - base_seen)),
    )


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None
