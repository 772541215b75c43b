from __future__ import annotations

import pytest

from batcheval.errors import JudgeError
from batcheval.judges.base import Judge, JudgeRequest, TokenUsage
from batcheval.judges.fake import ScriptedJudge, ScriptedReply


def test_scripted_judge_replies_in_order_then_reports_exhaustion(request_):
    # Given a two-step script
    judge = ScriptedJudge([{"label": "Yes"}, ScriptedReply(output={"label": "No"}, usage=TokenUsage(5, 1))])
    # When asked three times
    first, second = judge.judge(request_), judge.judge(request_)
    # Then replies come in order, with scripted usage, and the third call never invents an answer
    assert first.output == {"label": "Yes"}
    assert second.usage == TokenUsage(5, 1)
    with pytest.raises(JudgeError) as raised:
        judge.judge(request_)
    assert raised.value.code == "ScriptExhausted"
    assert judge.calls == 3
    assert first.model_id == "scripted-judge"
    assert judge.label == "scripted judge"
    assert isinstance(judge, Judge)


def test_scripted_judge_raises_errors_on_cue(request_):
    # Given a script whose first step is a throttle
    judge = ScriptedJudge([JudgeError("ThrottlingException", "x", retryable=True)], default={"label": "Yes"})
    # When / Then the error is raised, then the default is used
    with pytest.raises(JudgeError):
        judge.judge(request_)
    assert judge.judge(request_).output == {"label": "Yes"}


def test_responder_answers_from_the_request():
    # Given a responder keyed on metadata
    judge = ScriptedJudge(responder=lambda r: {"session": r.metadata["session"]})
    request = JudgeRequest(system="s", prompt="p", output_schema={}, metadata={"session": "s-1"})
    # When / Then the reply depends on the request only
    assert judge.judge(request).output == {"session": "s-1"}


def test_reply_needs_exactly_one_of_output_or_error():
    with pytest.raises(ValueError, match="exactly one"):
        ScriptedReply()
