"""A deterministic judge for tests and demos: answers from a script, never from a model.

Lives beside the evaluators (not in `judges/`, which holds real backends) so evaluator tests need
nothing from the judge backends. Thread-safe; records every request it saw.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from batcheval.errors import JudgeError
from batcheval.judges.base import JudgeRequest, JudgeResponse, TokenUsage

Answer = dict[str, Any] | JudgeError
Script = Callable[[JudgeRequest], Answer]


class ScriptedJudge:
    """Answers each request with `script(request)`: an output object, or a JudgeError to raise.

    Token usage is deterministic: input = len(system + prompt) // 4, output = `output_tokens`.
    """

    def __init__(self, script: Script, *, model_id: str = "scripted-judge", output_tokens: int = 40) -> None:
        self._script = script
        self.model_id = model_id
        self.output_tokens = output_tokens
        self.requests: list[JudgeRequest] = []
        self._lock = threading.Lock()

    @classmethod
    def always(cls, label: str, explanation: str = "scripted verdict", **kw: Any) -> ScriptedJudge:
        return cls(lambda _request: {"explanation": explanation, "label": label}, **kw)

    @classmethod
    def first_label(cls, **kw: Any) -> ScriptedJudge:
        """Picks the first label of whatever scale the request offers."""

        def script(request: JudgeRequest) -> Answer:
            return {
                "explanation": "first label",
                "label": request.output_schema["properties"]["label"]["enum"][0],
            }

        return cls(script, **kw)

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        with self._lock:
            self.requests.append(request)
        answer = self._script(request)
        if isinstance(answer, JudgeError):
            raise answer
        usage = TokenUsage(len(request.system + request.prompt) // 4, self.output_tokens)
        return JudgeResponse(output=answer, usage=usage, model_id=request.model_id or self.model_id)
