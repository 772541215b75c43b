"""A batch's partial summary, stored per committed batch and merged by Aggregate.

Interim form until `results.partials` lands: the batch's result records themselves, merged by
concatenation and summarized with `results.aggregate.summarize` (exact, but Aggregate then holds every
record of the job). The seam is this module: `BatchPartial` is what score-batch stores, `merge_partials`
what Aggregate calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from batcheval.evaluators.registry import score_policy
from batcheval.results.aggregate import summarize
from batcheval.results.records import EvaluationResult


@dataclass
class BatchPartial:
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def to_bytes(self) -> bytes:
        return orjson.dumps({"records": self.records})

    @classmethod
    def from_bytes(cls, body: bytes) -> BatchPartial:
        return cls(list(orjson.loads(body)["records"]))


def merge_partials(partials: Iterable[BatchPartial]) -> list[dict[str, Any]]:
    """evaluatorSummaries (with extended statistics) over every partial."""
    results = [EvaluationResult.from_record(record) for partial in partials for record in partial.records]
    return [summary.to_wire() for summary in summarize(results, policy_for=score_policy)]
