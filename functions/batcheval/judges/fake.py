"""`ScriptedJudge`: a deterministic stand-in for a model, for tests and the labelled demo.

It answers from a script written in advance; it is not a model and must always be presented as
"scripted judge" (its `label`), never as a model's verdict.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from batcheval.errors import JudgeError
from batcheval.judges.base import JudgeRequest, JudgeResponse, TokenUsage

SCRIPTED_MODEL_ID = "scripted-judge"


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    """One scripted answer: an output object, or an error to raise."""

    output: Mapping[str, Any] | None = None
    usage: TokenUsage = field(default_factory=lambda: TokenUsage(100, 20))
    error: JudgeError | None = None
    raw_text: str | None = None

    def __post_init__(self) -> None:
        if (self.output is None) == (self.error is None):
            raise ValueError("a ScriptedReply has exactly one of output or error")


Step = ScriptedReply | Mapping[str, Any] | JudgeError
Responder = Callable[[JudgeRequest], Step]


def _as_reply(step: Step) -> ScriptedReply:
    if isinstance(step, ScriptedReply):
        return step
    if isinstance(step, JudgeError):
        return ScriptedReply(error=step)
    return ScriptedReply(output=step)


class ScriptedJudge:
    """Answers requests from a script, in order (or via a function of the request).

    Args:
        script: replies used one per call, in call order. A plain mapping is an output, a
            `JudgeError` is raised; `ScriptedReply` sets usage too.
        responder: alternatively, a function computing each reply from the request (deterministic
            regardless of thread scheduling, e.g. keyed on `request.metadata`).
        default: reply once the script is used up; without one an exhausted script raises
            `JudgeError("ScriptExhausted")`, so a test never receives an invented answer.

    Every request is recorded in `requests` (thread-safe).
    """

    label = "scripted judge"

    def __init__(
        self,
        script: Iterable[Step] = (),
        *,
        responder: Responder | None = None,
        default: Step | None = None,
        model_id: str = SCRIPTED_MODEL_ID,
    ) -> None:
        self._script: deque[ScriptedReply] = deque(_as_reply(step) for step in script)
        self._responder = responder
        self._default = _as_reply(default) if default is not None else None
        self.model_id = model_id
        self._lock = threading.Lock()
        self.requests: list[JudgeRequest] = []

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        with self._lock:
            self.requests.append(request)
        # A responder runs outside the lock: it may be slow (concurrency tests) and is stateless.
        reply = _as_reply(self._responder(request)) if self._responder is not None else self._next_scripted()
        if reply.error is not None:
            raise reply.error
        assert reply.output is not None
        return JudgeResponse(
            output=dict(reply.output),
            usage=reply.usage,
            model_id=request.model_id or self.model_id,
            raw_text=reply.raw_text,
        )

    def _next_scripted(self) -> ScriptedReply:
        with self._lock:
            if self._script:
                return self._script.popleft()
            if self._default is not None:
                return self._default
        raise JudgeError("ScriptExhausted", "the scripted judge has no reply left", retryable=False)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)
