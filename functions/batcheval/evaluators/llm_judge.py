"""The LLM-judge built-ins (and derived evaluators: a built-in's rubric on another model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batcheval.evaluators.base import EvaluatorIdentity, Target, targets_at
from batcheval.evaluators.ground_truth import ASSERTIONS, EXPECTED_RESPONSE, SessionReferences
from batcheval.evaluators.judging import (
    OUTPUT_TOOL,
    JudgeFailure,
    Verdict,
    ask,
    off_protocol,
    parse_verdict,
    render_sections,
    system_prompt,
    verdict_schema,
)
from batcheval.evaluators.registry import EvaluatorSpec
from batcheval.evaluators.rubrics import CURRENT, Rubric, rubric_for
from batcheval.evaluators.rubrics.model import Section
from batcheval.evaluators.skills import skill_load
from batcheval.evaluators.transcript import (
    DEFAULT_LIMITS,
    TranscriptLimits,
    render_available_tools,
    render_context,
    render_session,
    render_tool_call,
    truncate,
)
from batcheval.judges.base import Judge, JudgeRequest
from batcheval.results.records import ErrorCodes, EvaluationResult, Level
from batcheval.traces.model import Session


@dataclass(frozen=True)
class BuiltinJudgeEvaluator:
    """Runs one built-in rubric through a `Judge` at the built-in's level."""

    spec: EvaluatorSpec
    judge: Judge
    identity: EvaluatorIdentity
    model_id: str | None = None
    max_tokens: int | None = None
    """Overrides the rubric's output budget (a derived evaluator's inferenceConfig.maxTokens)."""
    temperature: float = 0.0
    rubric_version: str = CURRENT
    limits: TranscriptLimits = DEFAULT_LIMITS
    rubric: Rubric = field(init=False)
    level: Level = field(init=False)

    def __post_init__(self) -> None:
        rubric = rubric_for(self.spec.evaluator_id, self.rubric_version)
        if rubric is None:
            raise ValueError(f"no rubric for {self.spec.evaluator_id} in {self.rubric_version}")
        object.__setattr__(self, "rubric", rubric)
        object.__setattr__(self, "level", self.spec.level)

    @classmethod
    def for_spec(
        cls, spec: EvaluatorSpec, judge: Judge, *, model_id: str | None = None
    ) -> BuiltinJudgeEvaluator:
        """The built-in under its own identity (Builtin.* id, name and ARN)."""
        identity = EvaluatorIdentity(spec.evaluator_id, spec.evaluator_name, spec.evaluator_arn)
        return cls(spec=spec, judge=judge, identity=identity, model_id=model_id)

    def targets(self, session: Session) -> list[Target]:
        found = targets_at(session, self.spec.level)
        if "skill" not in self.spec.tags:
            return found
        loads = [t for t in found if t.tool_call is not None and skill_load(t.tool_call)]
        if "skill_content" in self.rubric.sections:
            # Only a load whose SKILL.md body is in the trace has instructions to follow.
            loads = [t for t in loads if t.tool_call is not None and t.tool_call.result]
        return loads

    def evaluate(self, target: Target, refs: SessionReferences) -> list[EvaluationResult]:
        rubric, used = self._variant(target, refs)
        sections = self._sections(rubric, target, refs)
        if isinstance(sections, str):
            return [self.identity.error(target, refs, ErrorCodes.INSUFFICIENT_DATA, sections)]
        labels = list(rubric.definitions)
        request = JudgeRequest(
            system=system_prompt(rubric.criterion, list(rubric.definitions.items())),
            prompt=render_sections(sections) + f"\n\nCall {OUTPUT_TOOL} with your verdict.",
            output_schema=verdict_schema(labels),
            output_name=OUTPUT_TOOL,
            max_tokens=self.max_tokens or rubric.max_tokens,
            temperature=self.temperature,
            model_id=self.model_id,
            metadata={"evaluatorId": self.identity.evaluator_id, "sessionId": target.session.session_id},
        )
        extra: dict[str, Any] = {"rubricVersion": self.rubric_version}
        answer = ask(self.judge, request)
        if not isinstance(answer, JudgeFailure):
            extra["judgeModelId"] = answer.model_id
            if answer.usage_estimated:
                # The server reported no usage; tokenUsage is a character-count estimate, say so.
                extra["tokenUsageEstimated"] = True
            if answer.raw_text:
                extra["judgeText"] = answer.raw_text[:500]
            verdict = parse_verdict(answer.output, labels)
            if isinstance(verdict, Verdict):
                score = self.spec.score(verdict.label, ground_truth=rubric is not self.rubric)
                return [
                    self.identity.result(
                        target,
                        refs,
                        value=score,
                        label=verdict.label,
                        explanation=verdict.explanation,
                        usage=answer.usage,
                        used_fields=used,
                        extra=extra,
                    )
                ]
            answer = off_protocol(verdict, answer)
        return [
            self.identity.error(
                target, refs, answer.code, answer.message, usage=answer.usage, used_fields=used, extra=extra
            )
        ]

    def _variant(self, target: Target, refs: SessionReferences) -> tuple[Rubric, tuple[str, ...]]:
        """The ground-truth prompt variant when its reference field is present for this target."""
        gt = self.rubric.ground_truth
        if gt is None:
            return self.rubric, ()
        if "assertions" in gt.sections and refs.assertions:
            return gt, (ASSERTIONS,)
        if "expected_response" in gt.sections and refs.expected_response_for(target) is not None:
            return gt, (EXPECTED_RESPONSE,)
        return self.rubric, ()

    def _sections(
        self, rubric: Rubric, target: Target, refs: SessionReferences
    ) -> list[tuple[str, str]] | str:
        """The rendered inputs, or a reason the target cannot be judged."""
        out: list[tuple[str, str]] = []
        for section in rubric.sections:
            text = self._render(section, target, refs)
            if text is None:
                return f"{self.identity.evaluator_id} needs {section.replace('_', ' ')}, absent here"
            out.append((section, text))
        return out

    def _render(self, section: Section, target: Target, refs: SessionReferences) -> str | None:
        session, turn, call, limits = target.session, target.turn, target.tool_call, self.limits
        if section == "session":
            return render_session(session, limits)
        if section == "assertions":
            return "\n".join(f"- {a}" for a in refs.assertions or ())
        if section == "expected_response":
            expected = refs.expected_response_for(target)
            return None if expected is None else truncate(expected, limits.message_chars)
        if turn is None or target.turn_index is None:
            return None
        if section == "context":
            return render_context(session, target.turn_index, limits, tools_before=target.tool_index)
        if section == "response":
            if turn.agent_response is None:
                return None
            return truncate(turn.agent_response, limits.message_chars)
        if section == "passages":
            results = [c for c in turn.tool_calls if c.result]
            if not results:
                return None
            return "\n".join(render_tool_call(c, limits) for c in results)
        if section == "available_tools":
            return render_available_tools(session.turns[: target.turn_index + 1])
        if call is None:
            return None
        if section == "tool_call":
            return render_tool_call(call, limits)
        load = skill_load(call)
        if load is None:
            return None
        if section == "skill":
            return f"Invoked skill: {load.name}\nAvailable skills: (not recorded in the trace)"
        return None if load.content is None else truncate(load.content, limits.total_chars // 2)
