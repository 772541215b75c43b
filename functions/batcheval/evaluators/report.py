"""Evaluate sessions and report: the core behind `batcheval evaluate`, usable without the CLI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from batcheval.errors import ValidationError
from batcheval.evaluators.factory import EvaluatorFactory
from batcheval.evaluators.ground_truth import GroundTruth
from batcheval.evaluators.registry import score_policy
from batcheval.evaluators.runner import DEFAULT_MAX_WORKERS, run_evaluations
from batcheval.results.aggregate import EvaluatorSummary, summarize
from batcheval.results.records import EvaluationResult
from batcheval.traces.model import Session


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    results: list[EvaluationResult]
    summaries: list[EvaluatorSummary]
    warnings: list[str] = field(default_factory=list)
    """Input problems that did not stop the run (unmatched ground truth, unknown sessions)."""

    def to_wire(self, *, extended: bool = True) -> dict[str, Any]:
        """`{"results": [EvaluationResultContent...], "evaluatorSummaries": [...]}`."""
        return {
            "results": [r.to_wire() for r in self.results],
            "evaluatorSummaries": [s.to_wire(extended=extended) for s in self.summaries],
        }


def evaluate_sessions(
    sessions: Sequence[Session],
    evaluator_ids: Sequence[str],
    *,
    factory: EvaluatorFactory,
    ground_truth: GroundTruth | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    seed: int = 0,
    on_results: Callable[[list[EvaluationResult]], None] | None = None,
) -> EvaluationReport:
    """Run `evaluator_ids` over `sessions`. Unknown or repeated ids raise ValidationError before any work."""
    repeated = sorted({e for e in evaluator_ids if list(evaluator_ids).count(e) > 1})
    if repeated:
        raise ValidationError(f"evaluator(s) listed more than once: {', '.join(repeated)}")
    evaluators = factory.build_all(evaluator_ids)
    truth = ground_truth or GroundTruth()
    warnings = [
        f"ground truth for unknown session {sid!r} was not used" for sid in truth.unknown_sessions(sessions)
    ]
    for session in sessions:
        refs = truth.references_for(session)
        for index in refs.unmatched_turns:
            warnings.append(
                f"session {session.session_id!r}: ground-truth turn {index} matched no trace; "
                "its expectedResponse was not used"
            )
    results = run_evaluations(
        sessions, evaluators, ground_truth=truth, max_workers=max_workers, on_results=on_results
    )
    return EvaluationReport(results, summarize(results, policy_for=score_policy, seed=seed), warnings)
