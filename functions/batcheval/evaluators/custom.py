"""Runnable custom evaluators: LLM-as-a-judge with user instructions, and code-based (Lambda).

Derived evaluators reuse `BuiltinJudgeEvaluator` (a built-in rubric on another model); see
`factory.py`.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from batcheval.evaluators.base import EvaluatorIdentity, Target, targets_at
from batcheval.evaluators.definitions import (
    GROUND_TRUTH_PLACEHOLDERS,
    PLACEHOLDER,
    CodeConfig,
    CustomEvaluatorDefinition,
    LlmJudgeConfig,
    ScaleEntry,
)
from batcheval.evaluators.ground_truth import SessionReferences
from batcheval.evaluators.judging import (
    OUTPUT_TOOL,
    JudgeFailure,
    Verdict,
    ask,
    dimensions_schema,
    off_protocol,
    parse_verdict,
    split_usage,
    system_prompt,
    verdict_schema,
)
from batcheval.evaluators.transcript import (
    DEFAULT_LIMITS,
    TranscriptLimits,
    render_available_tools,
    render_context,
    render_session,
    render_tool_call,
    render_trajectory,
    truncate,
)
from batcheval.judges.base import Judge, JudgeRequest, JudgeResponse, TokenUsage
from batcheval.results.records import ErrorCodes, EvaluationResult, Level
from batcheval.traces.model import Session

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

CUSTOM_MAX_TOKENS = 400
"""Output budget when the definition's inferenceConfig sets none (+150 per extra dimension)."""
LAMBDA_PAYLOAD_LIMIT = 6_000_000
"""Synchronous Lambda invoke payload cap (6 MB); spans beyond it are dropped from the end."""


def _identity(definition: CustomEvaluatorDefinition) -> EvaluatorIdentity:
    return EvaluatorIdentity(definition.evaluator_id, definition.evaluator_name, definition.evaluator_arn)


def _scale_definitions(scale: tuple[ScaleEntry, ...]) -> list[tuple[str, str]]:
    return [
        (
            entry.label,
            f"({entry.value:g}) {entry.definition}" if entry.value is not None else entry.definition,
        )
        for entry in scale
    ]


@dataclass(frozen=True)
class CustomJudgeEvaluator:
    """`llmAsAJudge`: the user's instructions with placeholders filled, the user's rating scale."""

    definition: CustomEvaluatorDefinition
    judge: Judge
    limits: TranscriptLimits = DEFAULT_LIMITS
    identity: EvaluatorIdentity = field(init=False)
    level: Level = field(init=False)
    config: LlmJudgeConfig = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.definition.config, LlmJudgeConfig):
            raise TypeError("CustomJudgeEvaluator needs an llmAsAJudge definition")
        object.__setattr__(self, "config", self.definition.config)
        object.__setattr__(self, "identity", _identity(self.definition))
        object.__setattr__(self, "level", self.definition.level)

    def targets(self, session: Session) -> list[Target]:
        return targets_at(session, self.level)

    def evaluate(self, target: Target, refs: SessionReferences) -> list[EvaluationResult]:
        filled = self._fill(target, refs)
        used = tuple(
            GROUND_TRUTH_PLACEHOLDERS[p]
            for p in sorted(self.config.placeholders)
            if p in GROUND_TRUTH_PLACEHOLDERS
        )
        dims: list[str | None] = [d.name for d in self.config.dimensions] or [None]
        if isinstance(filled, JudgeFailure):
            return [
                self.identity.error(target, refs, filled.code, filled.message, used_fields=used, dimension=d)
                for d in dims
            ]
        request = self._request(filled, target)
        answer = ask(self.judge, request)
        extra: dict[str, Any] = {}
        if isinstance(answer, JudgeFailure):
            return [
                self.identity.error(
                    target, refs, answer.code, answer.message, usage=u, used_fields=used, dimension=d
                )
                for d, u in zip(dims, _usages(answer.usage, len(dims)), strict=True)
            ]
        extra["judgeModelId"] = answer.model_id
        if answer.usage_estimated:
            extra["tokenUsageEstimated"] = True
        usages = split_usage(answer.usage, len(dims))
        if not self.config.dimensions:
            return [
                self._one(
                    target, refs, answer.output, self.config.scale, None, usages[0], used, extra, answer
                )
            ]
        output = answer.output if isinstance(answer.output, dict) else {}
        return [
            self._one(target, refs, output.get(dim.name), dim.scale, dim.name, usage, used, extra, answer)
            for dim, usage in zip(self.config.dimensions, usages, strict=True)
        ]

    def _one(
        self,
        target: Target,
        refs: SessionReferences,
        output: Any,
        scale: tuple[ScaleEntry, ...],
        dimension: str | None,
        usage: TokenUsage,
        used: tuple[str, ...],
        extra: dict[str, Any],
        answer: JudgeResponse,
    ) -> EvaluationResult:
        verdict = parse_verdict(output, [e.label for e in scale])
        if not isinstance(verdict, Verdict):
            failure = off_protocol(verdict, answer)
            return self.identity.error(
                target,
                refs,
                failure.code,
                failure.message,
                usage=usage,
                used_fields=used,
                dimension=dimension,
                extra=extra,
            )
        entry = next(e for e in scale if e.label == verdict.label)
        return self.identity.result(
            target,
            refs,
            value=entry.value,
            label=verdict.label,
            explanation=verdict.explanation,
            usage=usage,
            used_fields=used,
            dimension=dimension,
            extra=extra,
        )

    def _request(self, filled: str, target: Target) -> JudgeRequest:
        config = self.config
        if config.dimensions:
            parts = [f"Rate each dimension separately ({', '.join(d.name for d in config.dimensions)}):"]
            for dim in config.dimensions:
                labels = "; ".join(f'"{label}": {text}' for label, text in _scale_definitions(dim.scale))
                parts.append(f"- {dim.name}: {dim.instruction.strip()} Labels: {labels}")
            system = system_prompt("\n".join(parts), [])
            schema = dimensions_schema([(d.name, [e.label for e in d.scale]) for d in config.dimensions])
            budget = CUSTOM_MAX_TOKENS + 150 * (len(config.dimensions) - 1)
        else:
            system = system_prompt(
                "Apply the evaluation instructions in the user message.", _scale_definitions(config.scale)
            )
            schema = verdict_schema([e.label for e in config.scale])
            budget = CUSTOM_MAX_TOKENS
        return JudgeRequest(
            system=system,
            prompt=f"{filled}\n\nCall {OUTPUT_TOOL} with your verdict.",
            output_schema=schema,
            output_name=OUTPUT_TOOL,
            max_tokens=config.model.max_tokens or budget,
            temperature=config.model.temperature or 0.0,
            model_id=config.model.model_id,
            metadata={"evaluatorId": self.identity.evaluator_id, "sessionId": target.session.session_id},
        )

    def _fill(self, target: Target, refs: SessionReferences) -> str | JudgeFailure:
        """The instructions with every placeholder they use replaced, in one pass over the template.

        One pass matters: agent data is inserted verbatim, so a response that contains the text
        `{expected_response}` must stay that text, never be expanded into the reference answer.
        """
        values: dict[str, str] = {}
        for name in sorted(self.config.placeholders):
            value = self._value(name, target, refs)
            if isinstance(value, JudgeFailure):
                return value
            values[name] = value
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), self.config.instructions)

    def _value(self, name: str, target: Target, refs: SessionReferences) -> str | JudgeFailure:
        session, limits = target.session, self.limits
        if name in GROUND_TRUTH_PLACEHOLDERS:
            gt: str | None
            if name == "expected_response":
                expected = refs.expected_response_for(target)
                gt = None if expected is None else truncate(expected, limits.message_chars)
            elif name == "assertions":
                gt = None if refs.assertions is None else "\n".join(f"- {a}" for a in refs.assertions)
            else:
                gt = None if refs.expected_tool_names is None else render_trajectory(refs.expected_tool_names)
            if gt is None:
                return JudgeFailure(
                    ErrorCodes.MISSING_GROUND_TRUTH,
                    f"instructions use {{{name}}} but no {GROUND_TRUTH_PLACEHOLDERS[name]} "
                    "was given for this target",
                )
            return gt
        if name == "actual_tool_trajectory":
            return render_trajectory([c.name for c in session.tool_calls])
        if name == "available_tools":
            upto = len(session.turns) if target.turn_index is None else target.turn_index + 1
            return render_available_tools(session.turns[:upto])
        if name == "context":
            if target.turn_index is None:
                return render_session(session, limits)
            return render_context(session, target.turn_index, limits, tools_before=target.tool_index)
        if name == "assistant_turn":
            turn = target.turn
            if turn is None or turn.agent_response is None:
                return JudgeFailure(ErrorCodes.INSUFFICIENT_DATA, "the turn has no assistant response")
            return truncate(turn.agent_response, limits.message_chars)
        call = target.tool_call
        if call is None:
            return JudgeFailure(ErrorCodes.INSUFFICIENT_DATA, f"{{{name}}} has nothing to show here")
        return render_tool_call(call, limits)


def _usages(usage: TokenUsage | None, parts: int) -> list[TokenUsage | None]:
    if usage is None:
        return [None] * parts
    return list(split_usage(usage, parts))


class LambdaCodeEvaluator:
    """`codeBased`: invokes the user's Lambda with the AgentCore event, one call per target.

    The definition's `lambdaTimeoutInSeconds` is enforced here (the call is abandoned and the result
    becomes a `LambdaTimeout` error); a FunctionError, a bad response or an invoke failure becomes
    that target's error. Nothing a Lambda does can fail another result.
    """

    def __init__(self, definition: CustomEvaluatorDefinition, lambda_client: LambdaClient) -> None:
        if not isinstance(definition.config, CodeConfig):
            raise TypeError("LambdaCodeEvaluator needs a codeBased definition")
        self.definition = definition
        self.config: CodeConfig = definition.config
        self.identity = _identity(definition)
        self.level: Level = definition.level
        self._client = lambda_client

    def targets(self, session: Session) -> list[Target]:
        return targets_at(session, self.level)

    def event(self, target: Target, refs: SessionReferences) -> dict[str, Any]:
        """The documented code-based evaluator event (schemaVersion 1.0)."""
        event: dict[str, Any] = {
            "schemaVersion": "1.0",
            "evaluatorId": self.identity.evaluator_id,
            "evaluatorName": self.identity.evaluator_name,
            "evaluationLevel": self.level,
            "evaluationInput": {"sessionSpans": list(target.session.spans)},
        }
        context = target.span_context
        if self.level == "TRACE" and context.trace_id:
            event["evaluationTarget"] = {"traceIds": [context.trace_id]}
        elif self.level == "TOOL_CALL" and context.span_id:
            event["evaluationTarget"] = {"spanIds": [context.span_id]}
        references = refs.to_reference_inputs()
        if references:
            event["evaluationReferenceInputs"] = references
        return event

    def evaluate(self, target: Target, refs: SessionReferences) -> list[EvaluationResult]:
        if not target.session.spans:
            return [
                self.identity.error(
                    target,
                    refs,
                    ErrorCodes.NO_SPANS,
                    "Provided input has no spans to evaluate: the session carries no raw span documents",
                )
            ]
        payload, dropped = _encode(self.event(target, refs))
        extra = {"spansDropped": dropped} if dropped else {}
        call = _Call(self._invoke, payload)
        if not call.wait(self.config.timeout_seconds):
            return [
                self.identity.error(
                    target,
                    refs,
                    ErrorCodes.LAMBDA_TIMEOUT,
                    f"{self.config.lambda_arn} did not answer within {self.config.timeout_seconds} s",
                    extra=extra,
                )
            ]
        if isinstance(call.error, ClientError | BotoCoreError):
            return [
                self.identity.error(
                    target, refs, ErrorCodes.LAMBDA_INVOKE_FAILED, str(call.error), extra=extra
                )
            ]
        if call.error is not None:
            raise call.error
        assert call.response is not None
        return [self._parse(target, refs, call.response, extra)]

    def _invoke(self, payload: bytes) -> dict[str, Any]:
        return dict(
            self._client.invoke(
                FunctionName=self.config.lambda_arn, InvocationType="RequestResponse", Payload=payload
            )
        )

    def _parse(
        self, target: Target, refs: SessionReferences, response: dict[str, Any], extra: dict[str, Any]
    ) -> EvaluationResult:
        raw = (
            response["Payload"].read()
            if hasattr(response.get("Payload"), "read")
            else response.get("Payload", b"")
        )
        try:  # the stdlib parser: a Python Lambda's reply may hold NaN/Infinity, named as such below
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if response.get("FunctionError"):
            detail = body if isinstance(body, dict) else {}
            kind = detail.get("errorType", response["FunctionError"])
            message = f"{kind}: {detail.get('errorMessage', raw[:500])}"
            return self.identity.error(target, refs, ErrorCodes.LAMBDA_FUNCTION_ERROR, message, extra=extra)
        if not isinstance(body, dict):
            return self.identity.error(
                target,
                refs,
                ErrorCodes.INVALID_LAMBDA_RESPONSE,
                "the Lambda did not return a JSON object",
                extra=extra,
            )
        if body.get("errorCode"):
            return self.identity.error(
                target, refs, str(body["errorCode"]), str(body.get("errorMessage", "")), extra=extra
            )
        label, value, explanation = body.get("label"), body.get("value"), body.get("explanation")
        problems = []
        if not isinstance(label, str) or not label:
            problems.append("'label' (a non-empty string) is required")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
        ):
            # json.loads accepts NaN/Infinity; such a "score" would poison every average downstream.
            problems.append("'value' must be a finite number")
        if explanation is not None and not isinstance(explanation, str):
            problems.append("'explanation' must be a string")
        if problems:
            return self.identity.error(
                target, refs, ErrorCodes.INVALID_LAMBDA_RESPONSE, "; ".join(problems), extra=extra
            )
        return self.identity.result(
            target,
            refs,
            value=None if value is None else float(value),
            label=label,
            explanation=explanation,
            used_fields=tuple(_reference_fields(refs)),
            extra=extra,
        )


class _Call:
    """One invoke on a daemon thread, so an abandoned (timed-out) call never holds up process exit."""

    def __init__(self, fn: Any, payload: bytes) -> None:
        self.response: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, payload), daemon=True, name="lambda-eval")
        self._thread.start()

    def _run(self, fn: Any, payload: bytes) -> None:
        try:
            self.response = fn(payload)
        except BaseException as exc:  # handed to the waiting caller
            self.error = exc

    def wait(self, timeout_s: float) -> bool:
        """True if the call finished within `timeout_s`."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


def _reference_fields(refs: SessionReferences) -> list[str]:
    """A Lambda receives every reference input, so none counts as ignored."""
    fields = []
    if refs.expected_responses:
        fields.append("expectedResponse")
    if refs.assertions is not None:
        fields.append("assertions")
    if refs.expected_tool_names is not None:
        fields.append("expectedTrajectory")
    return fields


def _encode(event: dict[str, Any]) -> tuple[bytes, int]:
    """JSON bytes within the Lambda payload cap, dropping spans from the end if needed."""
    payload = msgspec.json.encode(event, enc_hook=str)
    spans = event["evaluationInput"]["sessionSpans"]
    dropped = 0
    while len(payload) > LAMBDA_PAYLOAD_LIMIT and spans:
        cut = max(1, len(spans) // 10)
        del spans[-cut:]
        dropped += cut
        payload = msgspec.json.encode(event, enc_hook=str)
    return payload, dropped
