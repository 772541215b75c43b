"""`batcheval demo` (what `make demo` runs) end to end: sample sessions, a whole job, statistics, reports.

It runs in-process (interpreter start-up would triple its cost); its emulator shares moto's
process-wide state with the suite's, which is harmless: it uses its own account and key.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from batcheval.cli import main
from batcheval.local import cli as local_cli
from batcheval.product.demo import CODE_EVALUATORS, LLM_EVALUATORS
from batcheval.traces.samples import generate


@pytest.fixture
def restore_environment():
    def current() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}

    before = current()
    yield before
    assert current() == before  # the demo leaves the suite's handler environment as it found it


def test_demo_runs_a_whole_job_and_reports_it(local_api, capsys, tmp_path, restore_environment):
    # When the demo runs with its defaults
    exit_code = main(["demo", "--port", "0", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    # Then it finished on its own, after the job ended with every session evaluated
    assert exit_code == 0
    assert "Wrote 12 sample agent sessions" in out
    assert "status:    COMPLETED" in out
    assert "sessions:  12 completed, 0 failed, 0 in progress of 12" in out
    # And the LLM evaluators were skipped by name, with the flag that enables them (no fake score)
    assert f"Skipping the LLM-judge evaluators {', '.join(LLM_EVALUATORS)}" in out
    assert "--judge openai:URL --model MODEL" in out
    assert "Builtin.Helpfulness  " not in out
    # And the statistics table has the extended statistics of every code evaluator
    for evaluator in CODE_EVALUATORS:
        assert evaluator in out
    assert "passes when" in out
    assert "95% CI" in out
    # And the worst sessions come with explanations, and the files were written where it says
    assert "Worst sessions" in out
    assert "tool calls failed" in out
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["evaluatorId"] for r in results} == set(CODE_EVALUATORS)
    assert all("testScenarioId" in r for r in results)
    assert f"HTML report:         {tmp_path / 'report.html'}" in out
    assert "Plotly.newPlot" in (tmp_path / "report.html").read_text()
    # And the console stayed readable: no request log lines
    assert '"POST /evaluations/batch-evaluate' not in out


def test_demo_json_prints_only_the_final_get_response(local_api, capsys, tmp_path, restore_environment):
    # When the demo runs with --sessions 3 --json
    exit_code = main(["demo", "--port", "0", "--sessions", "3", "--json", "--output-dir", str(tmp_path)])
    captured = capsys.readouterr()
    # Then stdout is exactly one JSON document: the finished job
    job = json.loads(captured.out)
    assert exit_code == 0
    assert job["status"] == "COMPLETED"
    assert job["evaluationResults"]["totalNumberOfSessions"] == 3
    assert job["resultsExport"]["format"] == "JSONL"
    assert "extendedStatistics" in job["evaluationResults"]["evaluatorSummaries"][0]
    # And the story went to stderr
    assert "Wrote 3 sample agent sessions" in captured.err


def test_demo_serve_keeps_the_api_up_afterwards(
    local_api, capsys, tmp_path, monkeypatch, restore_environment
):
    # Given a stand-in for waiting for Ctrl-C that records it was reached
    waited = []
    monkeypatch.setattr(local_cli, "_wait", lambda stop: waited.append(True))
    # When the demo runs with --serve
    assert main(["demo", "--port", "0", "--sessions", "2", "--serve", "--output-dir", str(tmp_path)]) == 0
    # Then after the job it kept serving until stopped
    assert waited == [True]
    assert "The API stays up for exploring (--serve)" in capsys.readouterr().out


def test_demo_rejects_a_session_count_below_one(local_api, capsys, tmp_path, restore_environment):
    assert main(["demo", "--port", "0", "--sessions", "0", "--output-dir", str(tmp_path)]) == 2
    assert "--sessions must be at least 1" in capsys.readouterr().err


def test_demo_loads_exported_spans_and_runs_the_job_to_its_end(local_api, capsys, tmp_path):
    # Given a file of exported spans from 60 days ago
    sample = generate(
        3, seed=3, service_name="Old.DEFAULT", start_time_ns=time.time_ns() - 60 * 86_400 * 10**9
    )
    spans = tmp_path / "old.jsonl"
    spans.write_bytes(sample.jsonl())
    # When the demo loads it into a named group and runs its sample job
    exit_code = main(
        [
            *("demo", "--port", "0", "--load-spans", str(spans), "--log-group", "old/spans"),
            *("--output-dir", str(tmp_path / "out")),
        ]
    )
    out = capsys.readouterr().out
    # Then the spans were written, shifted and said so, and the sample job ran to its end
    assert exit_code == 0
    assert f"Loaded {len(sample.records)} records from {spans} into old/spans" in out
    assert "Times shifted by +" in out
    assert "Old.DEFAULT" in out
    assert "status:    COMPLETED" in out
