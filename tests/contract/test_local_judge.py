"""The judge of a local run: Bedrock on real AWS while the rest stays on the emulator, or none at all.

Bedrock is stubbed with botocore's Stubber on the judge's own client, so each Converse request is
validated against the real bedrock-runtime model and no call leaves the machine.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from batcheval.aws import AwsClients
from batcheval.cli import main
from batcheval.jobs.status import TERMINAL
from batcheval.local import cli as local_cli
from batcheval.local import judge as local_judge
from batcheval.local.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY
from batcheval.local.sigv4 import DEFAULT_TENANT
from batcheval.product import demo
from batcheval.product.job_results import iter_job_results
from batcheval.sdk import client as agentcore_client
from batcheval.traces.samples import generate

JUDGE_REGION = "eu-west-1"
JUDGE_MODEL = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
STUBBED_CALLS = 40


def _verdict() -> dict[str, Any]:
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_1",
                            "name": "submit_verdict",
                            "input": {"explanation": "Answered the request.", "label": "Very Helpful"},
                        }
                    }
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 900, "outputTokens": 40, "totalTokens": 940},
        "metrics": {"latencyMs": 300},
    }


def test_demo_judges_on_real_bedrock_while_the_rest_stays_on_the_emulator(
    local_api, capsys, tmp_path, monkeypatch
):
    # Given shell credentials and region for real AWS, and the judge's Bedrock client stubbed
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASHELLEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "shell-secret")
    monkeypatch.setenv("AWS_REGION", JUDGE_REGION)
    monkeypatch.setattr(demo, "LLM_EVALUATORS", ("Builtin.Helpfulness",))
    made: list[AwsClients] = []
    calls: list[int] = []

    def stubbed_judge_clients() -> AwsClients:
        clients = real_judge_clients()
        bedrock = clients.client("bedrock-runtime", total_max_attempts=1, read_timeout=60.0)
        stubber = Stubber(bedrock)
        expected = {k: ANY for k in ("system", "messages", "inferenceConfig", "toolConfig")}
        for _ in range(STUBBED_CALLS):
            stubber.add_response("converse", _verdict(), {**expected, "modelId": JUDGE_MODEL})
        bedrock.meta.events.register(
            "before-parameter-build.bedrock-runtime.Converse", lambda **_: calls.append(1)
        )
        stubber.activate()
        made.append(clients)
        return clients

    real_judge_clients = local_judge.judge_clients
    monkeypatch.setattr(local_judge, "judge_clients", stubbed_judge_clients)
    # When the demo runs with --judge bedrock
    code = main(
        ["demo", "--port", "0", "--sessions", "1", "--judge", "bedrock", "--output-dir", str(tmp_path)]
    )
    out = capsys.readouterr().out
    # Then the job completed and the LLM evaluator was not skipped
    assert code == 0, out
    assert "Skipping the LLM-judge evaluators" not in out
    # And the judge's client is on real AWS in the shell's region, credentials from the shell
    ((clients,),) = [made]
    bedrock = clients.client("bedrock-runtime", total_max_attempts=1, read_timeout=60.0)
    assert bedrock.meta.endpoint_url == f"https://bedrock-runtime.{JUDGE_REGION}.amazonaws.com"
    credentials = clients.session.get_credentials() if clients.session is not None else None
    assert credentials is not None
    assert credentials.access_key == "AKIASHELLEXAMPLE"
    # And every Helpfulness result is the stubbed verdict's score, one Converse call each
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    judged = [r for r in results if r["evaluatorId"] == "Builtin.Helpfulness"]
    assert judged
    assert all(r.get("value") is not None and r.get("label") == "Very Helpful" for r in judged), judged
    assert len(calls) == len(judged)
    # And the code evaluators still ran on the emulator's sessions
    assert {r["evaluatorId"] for r in results} >= set(demo.CODE_EVALUATORS)


def _banner_url(text: str, label: str) -> str:
    match = re.search(re.escape(label) + r"\s+(http://\S+)", text)
    assert match, text
    return match.group(1)


def test_serve_without_a_judge_gives_judge_not_configured_results(local_api, capsys, tmp_path, monkeypatch):
    # Given recent sample sessions to load, and a stand-in for Ctrl-C that runs one job meanwhile
    sample = generate(
        2, seed=11, service_name="NoJudge.DEFAULT", start_time_ns=time.time_ns() - 40 * 60 * 10**9
    )
    spans = tmp_path / "spans.jsonl"
    spans.write_bytes(sample.jsonl())
    seen: dict[str, Any] = {}

    def run_one_job(stop: Any) -> None:
        banner = capsys.readouterr().out
        client = agentcore_client(
            endpoint_url=_banner_url(banner, "API endpoint (SigV4):"),
            region_name="us-east-1",
            aws_access_key_id=DEFAULT_TENANT.access_key,
            aws_secret_access_key=DEFAULT_TENANT.secret_key,
        )
        job_id = client.start_batch_evaluation(
            batchEvaluationName=f"no_judge_{time.time_ns()}",
            dataSourceConfig={
                "cloudWatchLogs": {"serviceNames": ["NoJudge.DEFAULT"], "logGroupNames": ["aws/spans"]}
            },
            evaluators=[
                {"evaluatorId": "Builtin.Helpfulness"},
                {"evaluatorId": "ThirdParty.Batcheval.ToolErrorRate"},
            ],
        )["batchEvaluationId"]
        for _ in range(600):
            job = client.get_batch_evaluation(batchEvaluationId=job_id)
            if job["status"] in TERMINAL:
                break
            time.sleep(0.2)
        emulator = _banner_url(banner, "AWS endpoint (emulator):")
        session = boto3.Session(
            aws_access_key_id=EMULATOR_ACCESS_KEY,
            aws_secret_access_key=EMULATOR_SECRET_KEY,
            region_name="us-east-1",
        )
        seen["job"] = job
        seen["results"] = list(
            iter_job_results(
                job, source="auto", client_for=AwsClients(endpoint_url=emulator, session=session).client
            )
        )

    monkeypatch.setattr(local_cli, "_wait", run_one_job)
    # When serve runs without --judge and a job lists an LLM evaluator
    assert main(["serve", "--port", "0", "--load-spans", str(spans)]) == 0
    # Then the job ended, and each LLM result is an explicit error naming the flag that enables a judge
    assert seen["job"]["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS")
    judged = [r for r in seen["results"] if r["evaluatorId"] == "Builtin.Helpfulness"]
    assert judged
    for result in judged:
        assert result["errorCode"] == "JudgeNotConfigured"
        assert "--judge bedrock" in result["errorMessage"]
        assert result.get("value") is None
    # And the code evaluator scored the same sessions
    assert any(
        r["evaluatorId"] == "ThirdParty.Batcheval.ToolErrorRate" and "value" in r for r in seen["results"]
    )
    # And nothing printed a traceback
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_judge_bedrock_without_credentials_is_refused_before_anything_starts(
    command, capsys, monkeypatch, tmp_path
):
    # Given no credentials anywhere in the standard chain
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    # When serve or demo is asked for the Bedrock judge
    code = main(
        [
            command,
            "--port",
            "0",
            "--judge",
            "bedrock",
            "--output-dir" if command == "demo" else "--quiet",
            *([str(tmp_path)] if command == "demo" else []),
        ]
    )
    captured = capsys.readouterr()
    # Then it stops with a usage error naming the fix, before the API or a job started
    assert code == 2
    assert "--judge bedrock needs AWS credentials" in captured.err
    assert "AWS_PROFILE" in captured.err
    assert "ready" not in captured.out
