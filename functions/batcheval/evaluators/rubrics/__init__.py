"""Versioned rubrics for the LLM-judge built-ins. The label sets are AgentCore's; the wording is ours.

A new wording is a new module (`v2.py`) added to `VERSIONS`, never an edit of a published one, so a
stored result can always name the rubric that produced it (`extra["rubricVersion"]`).
"""

from __future__ import annotations

from collections.abc import Mapping

from batcheval.evaluators.rubrics.model import Rubric
from batcheval.evaluators.rubrics.v1 import RUBRICS as V1

CURRENT = "v1"
VERSIONS: Mapping[str, Mapping[str, Rubric]] = {"v1": V1}


def rubric_for(evaluator_id: str, version: str = CURRENT) -> Rubric | None:
    return VERSIONS[version].get(evaluator_id)


__all__ = ["CURRENT", "VERSIONS", "Rubric", "rubric_for"]
