"""What a report shows, computed once from a result set (both renderers read only this).

Statistics are recomputed from the per-session results with the service's own `summarize`, so a
result file and a job give the same numbers. A result *fails* when it is scored and does not pass
its evaluator's threshold (read with its polarity), or when it is unscored (errorCode); the worst
sessions are those with the most failing results, then the lowest mean score.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from batcheval.evaluators.registry import score_policy
from batcheval.results.aggregate import EvaluatorSummary, ScorePolicy, summarize
from batcheval.results.records import EvaluationResult

NO_SCENARIO = "(no testScenarioId)"
WORST_SESSIONS = 10


@dataclass(frozen=True, slots=True)
class Price:
    """Judge price in USD per million tokens (input, output); cost is only shown when one is given."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000


@dataclass(frozen=True, slots=True)
class Finding:
    """One failing result of a session, with the evaluator's words."""

    evaluator: str
    value: float | None
    label: str | None
    explanation: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    session_id: str
    scenario: str | None
    failing: int
    mean_score: float | None
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class ScenarioCell:
    count: int
    mean: float | None
    pass_rate: float | None


@dataclass
class ReportData:
    title: str
    source: str
    summaries: list[EvaluatorSummary]
    scores: dict[str, list[float]]
    """Evaluator key → its scores (histogram input)."""
    policies: dict[str, ScorePolicy]
    scenarios: dict[str, dict[str, ScenarioCell]]
    """Scenario → evaluator key → its statistics."""
    worst: list[SessionRow]
    sessions: int
    results: int
    tokens: dict[str, int]
    cost_usd: float | None
    job: Mapping[str, Any] | None = None
    comparison: Any = field(default=None)
    """A `compare.Comparison` when the report shows one."""


def key(summary_or_result: EvaluatorSummary | EvaluationResult) -> str:
    """`evaluatorId` or `evaluatorId/dimension`: one line of the summary table."""
    dimension = summary_or_result.evaluation_dimension_name
    return summary_or_result.evaluator_id + (f"/{dimension}" if dimension else "")


def passes(value: float, policy: ScorePolicy) -> bool | None:
    if policy.threshold is None:
        return None
    if policy.polarity == "higher_is_better":
        return value >= policy.threshold
    return value <= policy.threshold


def _failing(result: EvaluationResult) -> bool:
    if result.failed:
        return True
    if result.value is None:
        return False
    return passes(result.value, score_policy(result.evaluator_id)) is False


def build(
    title: str,
    source: str,
    records: Sequence[Mapping[str, Any]],
    *,
    price: Price | None = None,
    job: Mapping[str, Any] | None = None,
    worst: int = WORST_SESSIONS,
) -> ReportData:
    results = [EvaluationResult.from_record(r) for r in records]
    scenario_of = {r["context"]["spanContext"]["sessionId"]: r.get("testScenarioId") for r in records}
    summaries = summarize(results, policy_for=score_policy)
    scores: dict[str, list[float]] = defaultdict(list)
    policies: dict[str, ScorePolicy] = {}
    by_scenario: dict[str, dict[str, list[EvaluationResult]]] = defaultdict(lambda: defaultdict(list))
    by_session: dict[str, list[EvaluationResult]] = defaultdict(list)
    for result in results:
        k = key(result)
        policies.setdefault(k, score_policy(result.evaluator_id))
        if result.scored and result.value is not None:
            scores[k].append(result.value)
        scenario = scenario_of.get(result.context.session_id) or NO_SCENARIO
        by_scenario[scenario][k].append(result)
        by_session[result.context.session_id].append(result)
    return ReportData(
        title=title,
        source=source,
        summaries=summaries,
        scores=dict(scores),
        policies=policies,
        scenarios={
            s: {k: _cell(group, policies[k]) for k, group in groups.items()}
            for s, groups in by_scenario.items()
        }
        if len(by_scenario) > 1 or NO_SCENARIO not in by_scenario
        else {},
        worst=_worst(by_session, scenario_of, worst),
        sessions=len(by_session),
        results=len(results),
        tokens=_tokens(results),
        cost_usd=None if price is None else price.cost(*_in_out(results)),
        job=job,
    )


def _cell(group: list[EvaluationResult], policy: ScorePolicy) -> ScenarioCell:
    values = [r.value for r in group if r.scored and r.value is not None]
    verdicts = [passes(v, policy) for v in values]
    judged = [v for v in verdicts if v is not None]
    return ScenarioCell(
        count=len(group),
        mean=math.fsum(values) / len(values) if values else None,
        pass_rate=sum(judged) / len(judged) if judged else None,
    )


def _worst(
    by_session: Mapping[str, list[EvaluationResult]], scenario_of: Mapping[str, str | None], limit: int
) -> list[SessionRow]:
    rows = []
    for session_id, group in by_session.items():
        failing = [r for r in group if _failing(r)]
        if not failing:
            continue
        values = [r.value for r in group if r.scored and r.value is not None]
        rows.append(
            SessionRow(
                session_id=session_id,
                scenario=scenario_of.get(session_id),
                failing=len(failing),
                mean_score=math.fsum(values) / len(values) if values else None,
                findings=tuple(
                    Finding(
                        evaluator=key(r),
                        value=r.value,
                        label=r.label,
                        explanation=r.explanation,
                        error=f"{r.error_code}: {r.error_message}" if r.failed else None,
                    )
                    for r in failing
                ),
            )
        )
    rows.sort(
        key=lambda row: (-row.failing, math.inf if row.mean_score is None else row.mean_score, row.session_id)
    )
    return rows[:limit]


def _in_out(results: Sequence[EvaluationResult]) -> tuple[int, int]:
    usages = [r.token_usage for r in results if r.token_usage is not None]
    return sum(u.input_tokens for u in usages), sum(u.output_tokens for u in usages)


def _tokens(results: Sequence[EvaluationResult]) -> dict[str, int]:
    tokens_in, tokens_out = _in_out(results)
    return {"inputTokens": tokens_in, "outputTokens": tokens_out, "totalTokens": tokens_in + tokens_out}
