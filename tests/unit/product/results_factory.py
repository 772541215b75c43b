"""Seeded synthetic result sets for report and compare tests (record shape of the job export)."""

from __future__ import annotations

import random
from typing import Any

HELPFUL = "Builtin.Helpfulness"
TOOLS = "ThirdParty.Batcheval.ToolErrorRate"


def record(
    session: str,
    evaluator: str,
    value: float | None,
    *,
    scenario: str | None = None,
    explanation: str = "because",
    error: str | None = None,
    tokens: tuple[int, int] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "evaluatorId": evaluator,
        "evaluatorName": evaluator,
        "evaluatorArn": f"arn:aws:bedrock-agentcore:::evaluator/{evaluator}",
        "context": {"spanContext": {"sessionId": session}},
        "evaluationLevel": "SESSION",
    }
    if error is not None:
        out.update(errorCode=error, errorMessage=f"{error} happened")
    else:
        out.update(value=value, label="Good" if (value or 0) >= 0.5 else "Bad", explanation=explanation)
    if tokens is not None:
        out["tokenUsage"] = {"inputTokens": tokens[0], "outputTokens": tokens[1], "totalTokens": sum(tokens)}
    if scenario is not None:
        out["testScenarioId"] = scenario
    return out


def run(*, seed: int, sessions: int = 12, shift: float = 0.0) -> list[dict[str, Any]]:
    """Helpfulness (judge, tokens) and ToolErrorRate for `sessions` sessions of three kinds."""
    rng = random.Random(seed)
    out = []
    for i in range(sessions):
        scenario = f"{('booking', 'refund', 'greeting')[i % 3]}-{i // 3}"  # one session per scenario
        base = (0.9, 0.5, 0.7)[i % 3]
        helpful = min(1.0, max(0.0, round(base + shift + rng.uniform(-0.1, 0.1), 3)))
        out.append(
            record(
                f"s-{i}",
                HELPFUL,
                helpful,
                scenario=scenario,
                explanation=f"helpful {helpful}",
                tokens=(1000 + i, 100),
            )
        )
        if i == 5:
            out.append(record(f"s-{i}", TOOLS, None, scenario=scenario, error="JudgeUnavailable"))
        else:
            out.append(
                record(
                    f"s-{i}", TOOLS, (0.0, 0.5)[i % 2], scenario=scenario, explanation=f"tool errors {i % 2}"
                )
            )
    return out
