"""Ground truth from StartBatchEvaluation's `evaluationMetadata.sessionMetadata` entries.

Each entry names a session and carries `groundTruth.inline` with any of `assertions` (→
Builtin.GoalSuccessRate), `expectedTrajectory.toolNames` (→ the trajectory evaluators) and
`turns[].expectedResponse` (→ Builtin.Correctness on the matching trace).

Turn matching rule (AWS does not document one):
1. A ground-truth turn with `input.prompt` goes to the first not-yet-matched trace whose user input
   equals the prompt, compared after collapsing whitespace and ignoring case.
2. Every ground-truth turn still unmatched (no prompt, or a prompt no trace has) goes to the trace at
   the same position in the session (turn i → i-th trace), if that trace is not matched yet.
3. What is left is reported in `SessionReferences.unmatched_turns`, never silently attached elsewhere.

Reference fields a result did not use are reported in its `ignoredReferenceInputFields` using the
wire names (`expectedResponse`, `assertions`, `expectedTrajectory`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ParamValidationError
from botocore.session import get_session
from botocore.validate import ParamValidator

from batcheval.errors import FieldIssue, ValidationError
from batcheval.traces.model import Session

if TYPE_CHECKING:
    from batcheval.evaluators.base import Target

EXPECTED_RESPONSE = "expectedResponse"
ASSERTIONS = "assertions"
EXPECTED_TRAJECTORY = "expectedTrajectory"
FIELD_ORDER = (EXPECTED_RESPONSE, ASSERTIONS, EXPECTED_TRAJECTORY)

_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()


@dataclass(frozen=True, slots=True)
class GroundTruthTurn:
    prompt: str | None
    expected_response: str | None


@dataclass(frozen=True, slots=True)
class SessionGroundTruth:
    """One `sessionMetadata` entry, parsed."""

    session_id: str
    assertions: tuple[str, ...] | None = None
    expected_tool_names: tuple[str, ...] | None = None
    turns: tuple[GroundTruthTurn, ...] = ()
    test_scenario_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionReferences:
    """The reference inputs that apply to one session, with turns already matched to traces."""

    session_id: str
    assertions: tuple[str, ...] | None = None
    expected_tool_names: tuple[str, ...] | None = None
    expected_responses: Mapping[str, str] = field(default_factory=dict)
    """trace id → expected response text."""
    unmatched_turns: tuple[int, ...] = ()
    """Indexes of ground-truth turns with an expectedResponse that matched no trace."""

    @classmethod
    def empty(cls, session_id: str) -> SessionReferences:
        return cls(session_id)

    def expected_response_for(self, target: Target) -> str | None:
        turn = target.turn
        return None if turn is None else self.expected_responses.get(turn.trace_id)

    def available_fields(self, target: Target) -> set[str]:
        """Reference fields given for `target`'s scope: session fields, plus its trace's response.

        A SESSION target counts `expectedResponse` if any trace of the session has one.
        """
        fields: set[str] = set()
        if self.assertions is not None:
            fields.add(ASSERTIONS)
        if self.expected_tool_names is not None:
            fields.add(EXPECTED_TRAJECTORY)
        if target.turn is None:
            if self.expected_responses:
                fields.add(EXPECTED_RESPONSE)
        elif self.expected_response_for(target) is not None:
            fields.add(EXPECTED_RESPONSE)
        return fields

    def ignored_fields(self, target: Target, used: Iterable[str]) -> tuple[str, ...]:
        ignored = self.available_fields(target) - set(used)
        return tuple(name for name in FIELD_ORDER if name in ignored)

    def to_reference_inputs(self) -> list[dict[str, Any]]:
        """The session's ground truth as `EvaluationReferenceInput` items (the code-based Lambda event)."""
        items: list[dict[str, Any]] = []
        session_item: dict[str, Any] = {"context": {"spanContext": {"sessionId": self.session_id}}}
        if self.assertions is not None:
            session_item[ASSERTIONS] = [{"text": text} for text in self.assertions]
        if self.expected_tool_names is not None:
            session_item[EXPECTED_TRAJECTORY] = {"toolNames": list(self.expected_tool_names)}
        if len(session_item) > 1:
            items.append(session_item)
        for trace_id, text in self.expected_responses.items():
            items.append(
                {
                    "context": {"spanContext": {"sessionId": self.session_id, "traceId": trace_id}},
                    EXPECTED_RESPONSE: {"text": text},
                }
            )
        return items


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """Ground truth for a whole run, keyed by session id."""

    sessions: Mapping[str, SessionGroundTruth] = field(default_factory=dict)

    def references_for(self, session: Session) -> SessionReferences:
        entry = self.sessions.get(session.session_id)
        if entry is None:
            return SessionReferences.empty(session.session_id)
        responses, unmatched = match_turns(session, entry.turns)
        return SessionReferences(
            session_id=session.session_id,
            assertions=entry.assertions,
            expected_tool_names=entry.expected_tool_names,
            expected_responses=responses,
            unmatched_turns=unmatched,
        )

    def unknown_sessions(self, sessions: Iterable[Session]) -> list[str]:
        """Ground-truth session ids with no session among `sessions` (reported, not fatal)."""
        seen = {s.session_id for s in sessions}
        return [sid for sid in self.sessions if sid not in seen]


def match_turns(
    session: Session, turns: tuple[GroundTruthTurn, ...]
) -> tuple[dict[str, str], tuple[int, ...]]:
    """Expected responses keyed by trace id, and the ground-truth turns left unmatched (module rule)."""
    wanted = [i for i, t in enumerate(turns) if t.expected_response is not None]
    taken: dict[int, int] = {}  # ground-truth turn index → session turn index
    used: set[int] = set()
    for i in wanted:
        prompt = turns[i].prompt
        if not prompt:
            continue
        key = _normalise(prompt)
        for j, turn in enumerate(session.turns):
            if j not in used and turn.user_input is not None and _normalise(turn.user_input) == key:
                taken[i] = j
                used.add(j)
                break
    for i in wanted:
        if i not in taken and i < len(session.turns) and i not in used:
            taken[i] = i
            used.add(i)
    responses = {
        session.turns[j].trace_id: turns[i].expected_response or "" for i, j in sorted(taken.items())
    }
    unmatched = tuple(i for i in wanted if i not in taken)
    return responses, unmatched


def parse_ground_truth(entries: Any) -> GroundTruth:
    """Validate a list of `sessionMetadata` entries against the botocore model and parse it.

    Raises `ValidationError` naming every bad field; duplicate session ids are an error too.
    """
    if not isinstance(entries, list):
        raise ValidationError(
            "ground truth must be a JSON list of sessionMetadata entries",
            fields=[FieldIssue("sessionMetadata", "expected a list")],
        )
    _validate_against_model(entries)
    sessions: dict[str, SessionGroundTruth] = {}
    for index, entry in enumerate(entries):
        sid = entry["sessionId"]
        if sid in sessions:
            raise ValidationError(
                f"duplicate ground truth for session {sid!r}",
                fields=[FieldIssue(f"sessionMetadata[{index}].sessionId", "duplicate session id")],
            )
        sessions[sid] = _parse_entry(entry)
    return GroundTruth(sessions)


def _validate_against_model(entries: list[Any]) -> None:
    model = get_session().get_service_model("bedrock-agentcore")
    # Validate as the member it is in StartBatchEvaluation, so the report names real paths.
    shape = model.shape_for("EvaluationMetadata")
    report = ParamValidator().validate({"sessionMetadata": entries}, shape)
    if report.has_errors():
        message = str(ParamValidationError(report=report.generate_report()))
        raise ValidationError(f"invalid ground truth: {message}")


def _text(content: Mapping[str, Any] | None) -> str | None:
    if content is None:
        return None
    text = content.get("text")
    return text if isinstance(text, str) else None


def _parse_entry(entry: Mapping[str, Any]) -> SessionGroundTruth:
    inline = (entry.get("groundTruth") or {}).get("inline") or {}
    assertions = inline.get("assertions")
    trajectory = inline.get("expectedTrajectory")
    turns = tuple(
        GroundTruthTurn(
            prompt=(turn.get("input") or {}).get("prompt"),
            expected_response=_text(turn.get("expectedResponse")),
        )
        for turn in inline.get("turns") or ()
    )
    return SessionGroundTruth(
        session_id=entry["sessionId"],
        assertions=None if assertions is None else tuple(t for a in assertions if (t := _text(a))),
        expected_tool_names=None if trajectory is None else tuple(trajectory.get("toolNames") or ()),
        turns=turns,
        test_scenario_id=entry.get("testScenarioId"),
        metadata=dict(entry.get("metadata") or {}),
    )
