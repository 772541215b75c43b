"""CreateEvaluator-shaped documents used by the custom evaluator tests."""

from __future__ import annotations

from typing import Any

MODEL = {
    "bedrockEvaluatorModelConfig": {
        "modelId": "us.anthropic.claude-haiku-4-5",
        "inferenceConfig": {"maxTokens": 256},
    }
}
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:score-session"


def llm(
    level: str = "TRACE",
    instructions: str = "Judge {assistant_turn} given {context}",
    scale: dict[str, Any] | None = None,
) -> dict[str, Any]:
    scale = scale or {
        "numerical": [
            {"label": "Poor", "value": 0.0, "definition": "bad"},
            {"label": "Good", "value": 1.0, "definition": "good"},
        ]
    }
    return {
        "evaluatorName": "tone_check",
        "level": level,
        "evaluatorConfig": {
            "llmAsAJudge": {"instructions": instructions, "ratingScale": scale, "modelConfig": MODEL}
        },
    }


def code(level: str = "SESSION", timeout: int | None = None) -> dict[str, Any]:
    lam: dict[str, Any] = {"lambdaArn": LAMBDA_ARN}
    if timeout is not None:
        lam["lambdaTimeoutInSeconds"] = timeout
    return {
        "evaluatorName": "policy_check",
        "level": level,
        "evaluatorConfig": {"codeBased": {"lambdaConfig": lam}},
    }


def derived(base: str = "Builtin.Helpfulness", level: str = "TRACE") -> dict[str, Any]:
    return {
        "evaluatorName": "helpful_on_nova",
        "level": level,
        "evaluatorConfig": {
            "derived": {
                "baseEvaluatorId": base,
                "modelConfig": {"bedrockEvaluatorModelConfig": {"modelId": "us.amazon.nova-pro-v1:0"}},
            }
        },
    }


MULTI_DIMENSIONS: dict[str, Any] = {
    "multiDimensional": [
        {
            "dimensionName": "tone",
            "dimensionInstruction": "polite?",
            "dimensionRatingScale": {
                "categorical": [{"label": "Polite", "definition": "p"}, {"label": "Rude", "definition": "r"}]
            },
        },
        {
            "dimensionName": "accuracy",
            "dimensionInstruction": "right?",
            "dimensionRatingScale": {
                "numerical": [
                    {"label": "Wrong", "value": 0, "definition": "w"},
                    {"label": "Right", "value": 1, "definition": "r"},
                ]
            },
        },
    ]
}
