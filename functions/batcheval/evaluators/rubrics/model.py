"""The shape of a rubric: what to judge, what each label means, which inputs the judge sees."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Section = Literal[
    "session",
    "context",
    "response",
    "tool_call",
    "available_tools",
    "expected_response",
    "assertions",
    "passages",
    "skill",
    "skill_content",
]


@dataclass(frozen=True, slots=True)
class Rubric:
    criterion: str
    """The question the judge answers, in our words."""
    definitions: Mapping[str, str]
    """Label → what it means. Keys must equal the registry's label set (a test checks it)."""
    sections: tuple[Section, ...]
    """The inputs rendered into the prompt, in this order."""
    ground_truth: Rubric | None = None
    """The variant used when the ground-truth field is present (different labels and sections)."""
    max_tokens: int = 300
    """Verdict = a short explanation + a label: 300 tokens is ample and keeps quota reservations low."""
