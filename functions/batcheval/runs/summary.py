"""A batch's partial summary, stored per committed batch and merged by Aggregate.

Each batch folds the results it owns into a `results.partials.SummaryAccumulator` and stores its
`to_json()` (a few KB) next to its results; Aggregate merges the partials in commit order and never
reads a result row back. How the merged statistics stay exact (counts, means, built-in scales'
percentiles and CI) or bounded (a relative-error sketch for continuous scores) is in
`results.partials`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from batcheval.evaluators.registry import score_policy
from batcheval.results.partials import SummaryAccumulator, merge_all
from batcheval.results.records import EvaluationResult


class BatchPartial:
    """One batch's accumulator; `add` takes the export's record lines (testScenarioId included)."""

    def __init__(self) -> None:
        self._acc = SummaryAccumulator(policy_for=score_policy)

    def add(self, record: Mapping[str, Any]) -> None:
        self._acc.add(EvaluationResult.from_record(record), test_scenario_id=record.get("testScenarioId"))

    def to_bytes(self) -> bytes:
        return msgspec.json.encode(self._acc.to_json())


def merge_partials(bodies: Iterable[bytes]) -> dict[str, Any]:
    """`evaluatorSummaries` (with extended statistics) and the job's `judgeUsage` over every partial."""
    total = merge_all(msgspec.json.decode(body) for body in bodies)
    summaries = [summary.to_wire() for summary in total.summaries()]
    out: dict[str, Any] = {"evaluatorSummaries": summaries}
    usage = total.judge_usage()
    if usage["totalTokens"]:
        out["judgeUsage"] = usage
    return out
