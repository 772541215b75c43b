"""`batcheval evaluate --judge openai:URL` end to end against a local Chat Completions server."""

import json
from types import SimpleNamespace

import pytest

from batcheval.cli import main
from batcheval.evaluators import cli as evaluators_cli
from tests.integration.judges.conftest import Reply, ScriptedServer
from tests.unit.evaluators.builders import session, turn


def _verdict(label: str) -> dict:
    arguments = json.dumps({"explanation": "judged", "label": label})
    return {
        "id": "x",
        "model": "llama3.1:8b",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "submit_verdict", "arguments": arguments},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 321, "completion_tokens": 12, "total_tokens": 333},
    }


@pytest.fixture
def chat_server():
    server = ScriptedServer()
    yield server
    server.close()


def test_evaluate_with_an_openai_compatible_judge(chat_server, monkeypatch, capsys):
    # Given two turns and a local model server that rates the first Very Helpful and the second off-scale
    sessions = [session("s", turn(1, user="Book a flight"), turn(2, user="Thanks"))]
    monkeypatch.setattr(
        evaluators_cli, "_load_sessions", lambda _p: SimpleNamespace(sessions=sessions, skipped={})
    )
    chat_server.add(Reply(body=_verdict("Very Helpful")), Reply(body=_verdict("Meh")))
    # When the CLI evaluates Helpfulness with that server as judge
    code = main(
        [
            "evaluate",
            "--spans",
            "spans.jsonl",
            "--evaluator",
            "Builtin.Helpfulness",
            "--judge",
            f"openai:{chat_server.base_url}",
            "--model",
            "llama3.1:8b",
            "--max-workers",
            "1",
        ]
    )
    output = json.loads(capsys.readouterr().out)
    # Then the first result is scored with the server's token counts, the second is an explicit error
    assert code == 0
    first, second = output["results"]
    assert (first["label"], first["value"]) == ("Very Helpful", 0.833)
    assert first["tokenUsage"] == {"inputTokens": 321, "outputTokens": 12, "totalTokens": 333}
    assert second["errorCode"] == "InvalidJudgeOutput"
    assert "value" not in second
    summary = output["evaluatorSummaries"][0]
    assert (summary["totalEvaluated"], summary["totalFailed"]) == (1, 1)
    # And the request offered the label set as an enum, with a tight token budget
    sent = chat_server.requests[0].body
    assert sent["model"] == "llama3.1:8b"
    assert sent["max_tokens"] <= 400
    assert "Above And Beyond" in json.dumps(sent["tools"])
