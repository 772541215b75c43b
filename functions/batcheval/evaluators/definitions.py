"""Custom evaluator definitions, exactly as bedrock-agentcore-control's CreateEvaluator takes them.

A definition is the CreateEvaluator request (`evaluatorName`, `level`, `evaluatorConfig` with one of
`llmAsAJudge` / `codeBased` / `derived`, optional `description`) plus the `evaluatorId` the store
assigned. It is validated against the botocore model (types, required members, unions, ranges),
then against the rules botocore cannot check: name/id patterns, rating scales, placeholders.

Placeholders (AgentCore devguide "Create evaluator" and "Ground truth in custom evaluators"):
SESSION `{context}` `{available_tools}` `{actual_tool_trajectory}` `{expected_tool_trajectory}`
`{assertions}`; TRACE `{context}` `{assistant_turn}` `{expected_response}`; TOOL_CALL `{context}`
`{available_tools}` `{tool_turn}`. The instructions must use at least one of their level's, and none
of another level's. Other `{...}` text (e.g. a JSON example) is left alone.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ParamValidationError
from botocore.session import get_session
from botocore.validate import ParamValidator

from batcheval.errors import FieldIssue, ValidationError
from batcheval.results.records import LEVELS, Level, custom_arn

CUSTOM_ID = re.compile(r"^[a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9]{10}$")
CUSTOM_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,47}$")
DIMENSION_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,47}$")

PLACEHOLDERS: Mapping[Level, frozenset[str]] = {
    "SESSION": frozenset(
        {"context", "available_tools", "actual_tool_trajectory", "expected_tool_trajectory", "assertions"}
    ),
    "TRACE": frozenset({"context", "assistant_turn", "expected_response"}),
    "TOOL_CALL": frozenset({"context", "available_tools", "tool_turn"}),
}
ALL_PLACEHOLDERS = frozenset().union(*PLACEHOLDERS.values())
GROUND_TRUTH_PLACEHOLDERS: Mapping[str, str] = {
    "expected_response": "expectedResponse",
    "assertions": "assertions",
    "expected_tool_trajectory": "expectedTrajectory",
}
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
"""A `{name}` in instructions (only names in PLACEHOLDERS are filled; other braces stay as written)."""
_ALNUM = string.ascii_letters + string.digits
DEFAULT_LAMBDA_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class ScaleEntry:
    label: str
    definition: str
    value: float | None = None
    """Numerical scales only; categorical entries have no number."""


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    instruction: str
    scale: tuple[ScaleEntry, ...]


@dataclass(frozen=True, slots=True)
class ModelConfig:
    model_id: str
    max_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class LlmJudgeConfig:
    instructions: str
    scale: tuple[ScaleEntry, ...]
    """Empty when the evaluator is multi-dimensional."""
    dimensions: tuple[Dimension, ...]
    model: ModelConfig

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(PLACEHOLDER.findall(self.instructions)) & ALL_PLACEHOLDERS


@dataclass(frozen=True, slots=True)
class CodeConfig:
    lambda_arn: str
    timeout_seconds: int = DEFAULT_LAMBDA_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class DerivedConfig:
    base_evaluator_id: str
    model: ModelConfig


@dataclass(frozen=True, slots=True)
class CustomEvaluatorDefinition:
    evaluator_id: str
    evaluator_name: str
    evaluator_arn: str
    level: Level
    config: LlmJudgeConfig | CodeConfig | DerivedConfig
    description: str | None = None
    request: Mapping[str, Any] | None = None
    """The CreateEvaluator-shaped document it was parsed from (what stores persist)."""

    @property
    def evaluator_type(self) -> str:
        """The control plane's EvaluatorType for this definition."""
        if isinstance(self.config, CodeConfig):
            return "CustomCode"
        if isinstance(self.config, DerivedConfig):
            return "CustomDerived"
        return "Custom"

    def to_dict(self) -> dict[str, Any]:
        out = {
            "evaluatorId": self.evaluator_id,
            "evaluatorName": self.evaluator_name,
            "evaluatorArn": self.evaluator_arn,
            "level": self.level,
            "kind": "code" if isinstance(self.config, CodeConfig) else "llm_judge",
            "evaluatorType": self.evaluator_type,
        }
        if self.description:
            out["description"] = self.description
        return out


def derived_id(name: str) -> str:
    """A stable custom id for a definition that has none (local files): `<name>-<10 alnum>`."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:16], "big")
    suffix = ""
    for _ in range(10):
        digest, index = divmod(digest, len(_ALNUM))
        suffix += _ALNUM[index]
    return f"{name}-{suffix}"


def parse_definition(
    document: Mapping[str, Any], *, region: str = "us-east-1", account_id: str = "000000000000"
) -> CustomEvaluatorDefinition:
    """Validate a CreateEvaluator-shaped document (+ optional evaluatorId) and parse it.

    Raises `ValidationError` listing what is wrong.
    """
    request = {k: v for k, v in document.items() if k not in ("evaluatorId", "evaluatorArn")}
    _validate_model(request)
    name = request["evaluatorName"]
    evaluator_id = document.get("evaluatorId") or derived_id(name)
    issues: list[FieldIssue] = []
    if not CUSTOM_NAME.match(name):
        issues.append(FieldIssue("evaluatorName", "must match [a-zA-Z][a-zA-Z0-9_]{0,47}"))
    if not CUSTOM_ID.match(evaluator_id):
        issues.append(FieldIssue("evaluatorId", "must match [a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9]{10}"))
    level: Level = request["level"]
    config_doc = request["evaluatorConfig"]
    config = _parse_config(config_doc, level, issues)
    if issues or config is None:
        raise ValidationError(
            f"invalid evaluator definition {name!r}: " + "; ".join(f"{i.name}: {i.message}" for i in issues),
            fields=issues,
        )
    return CustomEvaluatorDefinition(
        evaluator_id=evaluator_id,
        evaluator_name=name,
        evaluator_arn=custom_arn(evaluator_id, region=region, account_id=account_id),
        level=level,
        config=config,
        description=request.get("description"),
        request=dict(request),
    )


def _validate_model(request: Mapping[str, Any]) -> None:
    model = get_session().get_service_model("bedrock-agentcore-control")
    shape = model.operation_model("CreateEvaluator").input_shape
    assert shape is not None
    report = ParamValidator().validate(dict(request), shape)
    if report.has_errors():
        message = str(ParamValidationError(report=report.generate_report()))
        raise ValidationError(f"invalid evaluator definition: {message}")
    if request.get("level") not in LEVELS:
        raise ValidationError(
            "invalid evaluator definition: level must be one of SESSION, TRACE, TOOL_CALL",
            fields=[FieldIssue("level", "must be SESSION, TRACE or TOOL_CALL")],
        )


def _one_member(doc: Mapping[str, Any], path: str, issues: list[FieldIssue]) -> str | None:
    present = [key for key, value in doc.items() if value is not None]
    if len(present) != 1:
        issues.append(FieldIssue(path, f"set exactly one member (got {present or 'none'})"))
        return None
    return present[0]


def _parse_config(
    doc: Mapping[str, Any], level: Level, issues: list[FieldIssue]
) -> LlmJudgeConfig | CodeConfig | DerivedConfig | None:
    member = _one_member(doc, "evaluatorConfig", issues)
    if member == "codeBased":
        lam = doc["codeBased"].get("lambdaConfig")
        if lam is None:
            issues.append(FieldIssue("evaluatorConfig.codeBased.lambdaConfig", "required"))
            return None
        return CodeConfig(lam["lambdaArn"], lam.get("lambdaTimeoutInSeconds", DEFAULT_LAMBDA_TIMEOUT_S))
    if member == "derived":
        return _parse_derived(doc["derived"], level, issues)
    if member == "llmAsAJudge":
        return _parse_llm(doc["llmAsAJudge"], level, issues)
    return None


def _parse_model(doc: Mapping[str, Any], path: str, issues: list[FieldIssue]) -> ModelConfig | None:
    member = _one_member(doc, path, issues)
    if member == "bedrockEvaluatorModelConfig":
        bedrock = doc[member]
        inference = bedrock.get("inferenceConfig") or {}
        return ModelConfig(bedrock["modelId"], inference.get("maxTokens"), inference.get("temperature"))
    if member == "responsesEvaluatorModelConfig":
        responses = doc[member]
        return ModelConfig(
            responses["modelId"], responses.get("maxOutputTokens"), responses.get("temperature")
        )
    return None


def _parse_derived(doc: Mapping[str, Any], level: Level, issues: list[FieldIssue]) -> DerivedConfig | None:
    from batcheval.evaluators.registry import get_spec  # registry imports nothing from here

    base = doc["baseEvaluatorId"]
    spec = get_spec(base)
    if spec is None or spec.kind != "llm_judge":
        issues.append(
            FieldIssue("evaluatorConfig.derived.baseEvaluatorId", f"{base!r} is not an LLM-judge built-in")
        )
    elif spec.level != level:
        issues.append(FieldIssue("level", f"{base} runs at {spec.level}, not {level}"))
    model = _parse_model(doc["modelConfig"], "evaluatorConfig.derived.modelConfig", issues)
    return None if model is None else DerivedConfig(base, model)


def _parse_scale(
    entries: list[Mapping[str, Any]], numerical: bool, path: str, issues: list[FieldIssue]
) -> tuple[ScaleEntry, ...]:
    if not entries:
        issues.append(FieldIssue(path, "needs at least one entry"))
        return ()
    scale = tuple(
        ScaleEntry(e["label"], e.get("definition", ""), float(e["value"]) if numerical else None)
        for e in entries
    )
    labels = [entry.label.strip().casefold() for entry in scale]
    if len(set(labels)) != len(labels):
        issues.append(FieldIssue(path, "labels must be unique"))
    return scale


def _parse_rating(doc: Mapping[str, Any], path: str, issues: list[FieldIssue]) -> tuple[ScaleEntry, ...]:
    member = _one_member({k: v for k, v in doc.items() if k != "multiDimensional"}, path, issues)
    if member is None:
        return ()
    return _parse_scale(doc[member], member == "numerical", f"{path}.{member}", issues)


def _parse_llm(doc: Mapping[str, Any], level: Level, issues: list[FieldIssue]) -> LlmJudgeConfig | None:
    path = "evaluatorConfig.llmAsAJudge"
    instructions: str = doc["instructions"]
    rating = doc["ratingScale"]
    scale: tuple[ScaleEntry, ...] = ()
    dimensions: tuple[Dimension, ...] = ()
    if _one_member(rating, f"{path}.ratingScale", issues) == "multiDimensional":
        dims = []
        for i, dim in enumerate(rating["multiDimensional"]):
            dim_scale = _parse_rating(
                dim["dimensionRatingScale"], f"{path}.ratingScale.multiDimensional[{i}]", issues
            )
            dims.append(Dimension(dim["dimensionName"], dim["dimensionInstruction"], dim_scale))
        names = [d.name for d in dims]
        bad = [n for n in names if not DIMENSION_NAME.match(n)]
        if bad:
            issues.append(
                FieldIssue(
                    f"{path}.ratingScale.multiDimensional",
                    f"dimension names must match {DIMENSION_NAME.pattern}: {bad}",
                )
            )
        if len(set(names)) != len(names):
            issues.append(
                FieldIssue(f"{path}.ratingScale.multiDimensional", "dimension names must be unique")
            )
        dimensions = tuple(dims)
    else:
        scale = _parse_rating(rating, f"{path}.ratingScale", issues)
    used = frozenset(PLACEHOLDER.findall(instructions)) & ALL_PLACEHOLDERS
    allowed = PLACEHOLDERS[level]
    if not used & allowed:
        issues.append(
            FieldIssue(
                f"{path}.instructions", f"must use at least one {level} placeholder: {sorted(allowed)}"
            )
        )
    foreign = sorted(used - allowed)
    if foreign:
        issues.append(FieldIssue(f"{path}.instructions", f"placeholders not allowed at {level}: {foreign}"))
    model = _parse_model(doc["modelConfig"], f"{path}.modelConfig", issues)
    if model is None:
        return None
    return LlmJudgeConfig(instructions, scale, dimensions, model)
