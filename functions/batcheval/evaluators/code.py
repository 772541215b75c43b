"""Deterministic evaluators: zero tokens, no model, same answer every time.

Trajectory built-ins compare the session's tool names (in call order) with
`expectedTrajectory.toolNames`:

* ExactOrderMatch: actual == expected (same tools, same order, nothing extra).
* InOrderMatch: expected is a subsequence of actual (order kept, extras anywhere allowed).
* AnyOrderMatch: every expected name occurs at least once in actual (set semantics: a name listed
  twice needs one call), extras allowed.
An empty expected list matches only an empty trajectory under ExactOrder, anything under the others.
Without `expectedTrajectory` the result is a `MissingGroundTruth` error, never a score.

Ours (`ThirdParty.Batcheval.*`) measure raw quantities; each docstring says what the value means.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from batcheval.evaluators.base import EvaluatorIdentity, Target, targets_at
from batcheval.evaluators.ground_truth import EXPECTED_TRAJECTORY, SessionReferences
from batcheval.evaluators.registry import EvaluatorSpec
from batcheval.evaluators.transcript import render_trajectory
from batcheval.results.records import ErrorCodes, EvaluationResult, Level
from batcheval.traces.model import Session, ToolCall

LOOP_MIN_CALLS = 3
"""An identical call made this many times is a loop (label `Loop`), not a mere repeat."""
FAST_SECONDS = 5.0
SLOW_SECONDS = 30.0


def exact_order(actual: list[str], expected: list[str]) -> bool:
    return actual == expected


def in_order(actual: list[str], expected: list[str]) -> bool:
    remaining = iter(actual)
    return all(any(name == seen for seen in remaining) for name in expected)


def any_order(actual: list[str], expected: list[str]) -> bool:
    return set(expected) <= set(actual)


_MATCHERS: dict[str, Callable[[list[str], list[str]], bool]] = {
    "Builtin.TrajectoryExactOrderMatch": exact_order,
    "Builtin.TrajectoryInOrderMatch": in_order,
    "Builtin.TrajectoryAnyOrderMatch": any_order,
}


@dataclass(frozen=True)
class CodeEvaluator:
    """A deterministic evaluator: `score` maps one target to one result."""

    spec: EvaluatorSpec
    identity: EvaluatorIdentity
    score: Callable[[EvaluatorIdentity, Target, SessionReferences], EvaluationResult | None]
    level: Level = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", self.spec.level)

    def targets(self, session: Session) -> list[Target]:
        return targets_at(session, self.spec.level)

    def evaluate(self, target: Target, refs: SessionReferences) -> list[EvaluationResult]:
        result = self.score(self.identity, target, refs)
        return [] if result is None else [result]


def _trajectory(
    evaluator_id: str,
) -> Callable[[EvaluatorIdentity, Target, SessionReferences], EvaluationResult]:
    matcher = _MATCHERS[evaluator_id]

    def score(identity: EvaluatorIdentity, target: Target, refs: SessionReferences) -> EvaluationResult:
        if refs.expected_tool_names is None:
            return identity.error(
                target,
                refs,
                ErrorCodes.MISSING_GROUND_TRUTH,
                f"{evaluator_id} needs expectedTrajectory.toolNames for session "
                f"{target.session.session_id}; none was given",
            )
        actual = [call.name for call in target.session.tool_calls]
        expected = list(refs.expected_tool_names)
        matched = matcher(actual, expected)
        why = _trajectory_explanation(actual, expected, matched)
        return identity.result(
            target,
            refs,
            value=1.0 if matched else 0.0,
            label="Match" if matched else "No Match",
            explanation=why,
            used_fields=(EXPECTED_TRAJECTORY,),
        )

    return score


def _trajectory_explanation(actual: list[str], expected: list[str], matched: bool) -> str:
    text = f"Expected {render_trajectory(expected)}; actual {render_trajectory(actual)}."
    if matched:
        return text
    missing = sorted(set(expected) - set(actual))
    if missing:
        return f"{text} Missing: {', '.join(missing)}."
    extra = sorted(set(actual) - set(expected))
    if extra:
        return f"{text} Unexpected: {', '.join(extra)}."
    return f"{text} Same tools, different order or count."


NO_TOOL_CALLS = "No Tool Calls"
"""Label (without a value) of the tool-call evaluators on a session that made none: not applicable,
said explicitly, so the session is visibly evaluated yet no average counts a made-up rate."""


def _no_tool_calls(identity: EvaluatorIdentity, target: Target, refs: SessionReferences) -> EvaluationResult:
    return identity.result(
        target, refs, label=NO_TOOL_CALLS, explanation="The session made no tool calls; nothing to measure."
    )


def tool_error_rate(
    identity: EvaluatorIdentity, target: Target, refs: SessionReferences
) -> EvaluationResult | None:
    """Value = failed tool calls / all tool calls (0.0 = none failed); label only without tool calls."""
    calls = target.session.tool_calls
    if not calls:
        return _no_tool_calls(identity, target, refs)
    failed = [call for call in calls if call.status == "error"]
    rate = len(failed) / len(calls)
    label = "No Errors" if not failed else "All Errors" if len(failed) == len(calls) else "Some Errors"
    unknown = sum(1 for call in calls if call.status == "unknown")
    text = f"{len(failed)} of {len(calls)} tool calls failed"
    if failed:
        text += " (" + ", ".join(sorted({c.name for c in failed})) + ")"
    if unknown:
        text += f"; {unknown} had no recorded status and count as not failed"
    return identity.result(target, refs, value=rate, label=label, explanation=text + ".")


def _call_key(call: ToolCall) -> tuple[str, str]:
    """Tool name + arguments with JSON key order and spacing normalised."""
    args = call.arguments or ""
    try:
        args = msgspec.json.encode(msgspec.json.decode(args), order="sorted").decode()
    except ValueError:
        args = args.strip()
    return call.name, args


def repeated_tool_calls(
    identity: EvaluatorIdentity, target: Target, refs: SessionReferences
) -> EvaluationResult | None:
    """Value = calls repeating an earlier identical call / all calls (0.0 = no repeats).

    Identical = same tool name and same arguments (JSON compared canonically). Label only (no value)
    without tool calls.
    """
    calls = target.session.tool_calls
    if not calls:
        return _no_tool_calls(identity, target, refs)
    counts = Counter(_call_key(call) for call in calls)
    repeats = sum(n - 1 for n in counts.values())
    worst_key, worst = counts.most_common(1)[0]
    label = "No Repeats" if repeats == 0 else "Loop" if worst >= LOOP_MIN_CALLS else "Repeats"
    text = f"{repeats} of {len(calls)} tool calls repeat an earlier identical call"
    if repeats:
        text += f"; most repeated: {worst_key[0]} x{worst}"
    return identity.result(target, refs, value=repeats / len(calls), label=label, explanation=text + ".")


def turn_latency(identity: EvaluatorIdentity, target: Target, refs: SessionReferences) -> EvaluationResult:
    """Value = seconds from the turn's start to its end."""
    turn = target.turn
    latency_ms = None if turn is None else turn.latency_ms
    if latency_ms is None:
        return identity.error(
            target, refs, ErrorCodes.INSUFFICIENT_DATA, "the turn has no start/end timestamps"
        )
    if latency_ms < 0:
        return identity.error(
            target,
            refs,
            ErrorCodes.INSUFFICIENT_DATA,
            "the turn ends before it starts (inconsistent timestamps)",
        )
    seconds = latency_ms / 1000
    label = "Fast" if seconds < FAST_SECONDS else "Moderate" if seconds < SLOW_SECONDS else "Slow"
    return identity.result(
        target, refs, value=round(seconds, 6), label=label, explanation=f"Turn took {seconds:.3f} s."
    )


def session_token_usage(
    identity: EvaluatorIdentity, target: Target, refs: SessionReferences
) -> EvaluationResult:
    """Value = input + output tokens over the session's model calls that report usage."""
    calls = [call for turn in target.session.turns for call in turn.model_calls]
    reported = [c for c in calls if c.input_tokens is not None or c.output_tokens is not None]
    if not reported:
        return identity.error(
            target,
            refs,
            ErrorCodes.INSUFFICIENT_DATA,
            f"none of the session's {len(calls)} model calls reports token usage",
        )
    tokens_in = sum(c.input_tokens or 0 for c in reported)
    tokens_out = sum(c.output_tokens or 0 for c in reported)
    # A call reporting only one of its two counts is a lower bound too, not a full measurement.
    half = sum(1 for c in reported if c.input_tokens is None or c.output_tokens is None)
    label = "Measured" if len(reported) == len(calls) and not half else "Partially Measured"
    text = f"{tokens_in} input + {tokens_out} output tokens over {len(reported)} model call(s)"
    if len(reported) < len(calls):
        text += f"; {len(calls) - len(reported)} call(s) reported no usage, so this is a lower bound"
    if half:
        text += f"; {half} call(s) reported only input or only output tokens, so this is a lower bound"
    return identity.result(
        target, refs, value=float(tokens_in + tokens_out), label=label, explanation=text + "."
    )


SCORERS: dict[str, Callable[[EvaluatorIdentity, Target, SessionReferences], EvaluationResult | None]] = {
    **{evaluator_id: _trajectory(evaluator_id) for evaluator_id in _MATCHERS},
    "ThirdParty.Batcheval.ToolErrorRate": tool_error_rate,
    "ThirdParty.Batcheval.RepeatedToolCalls": repeated_tool_calls,
    "ThirdParty.Batcheval.TurnLatency": turn_latency,
    "ThirdParty.Batcheval.TokenUsage": session_token_usage,
}


def code_evaluator(spec: EvaluatorSpec) -> CodeEvaluator:
    identity = EvaluatorIdentity(spec.evaluator_id, spec.evaluator_name, spec.evaluator_arn)
    return CodeEvaluator(spec=spec, identity=identity, score=SCORERS[spec.evaluator_id])
