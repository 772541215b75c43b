"""`batcheval demo --once` (what `make demo` runs, minus serving forever) against the real handlers.

It runs in-process (interpreter start-up would triple its cost); its emulator shares moto's
process-wide state with the suite's, which is harmless: it uses its own account and key.
"""

from __future__ import annotations

import os

from batcheval.cli import main


def test_demo_starts_a_sample_job_with_the_stock_client(local_api, capsys):
    # Given the suite's settings in the environment
    before = dict(os.environ)
    # When the interim demo runs once
    exit_code = main(["demo", "--once", "--port", "0", "--quiet"])
    # Then it served, seeded sample sessions, started one job through the API and printed it
    out = capsys.readouterr().out
    assert exit_code == 0
    assert "API endpoint (SigV4):" in out
    assert "Wrote 12 sample agent sessions" in out
    assert "/aws/bedrock-agentcore/runtimes/demo_agent-DEFAULT" in out
    assert '"evaluatorId": "Builtin.TrajectoryInOrderMatch"' in out
    assert "Started a sample batch evaluation with the stock boto3 client:" in out
    assert '"status": "PENDING"' in out
    assert (
        '"batchEvaluationArn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:batch-evaluate/demo_' in out
    )
    # And it left the suite's handler environment as it found it
    assert dict(os.environ) == before


def test_demo_loads_exported_spans_and_runs_the_job_to_its_end(local_api, capsys, tmp_path):
    # Given a file of exported spans from 60 days ago
    import time

    from batcheval.traces.samples import generate

    sample = generate(
        3, seed=3, service_name="Old.DEFAULT", start_time_ns=time.time_ns() - 60 * 86_400 * 10**9
    )
    spans = tmp_path / "old.jsonl"
    spans.write_bytes(sample.jsonl())
    # When the demo loads it into a named group and runs its sample job
    exit_code = main(
        ["demo", "--once", "--port", "0", "--quiet", "--load-spans", str(spans), "--log-group", "old/spans"]
    )
    out = capsys.readouterr().out
    # Then the spans were written, shifted and said so, and the sample job ran to its end
    assert exit_code == 0
    assert f"Loaded {len(sample.records)} records from {spans} into old/spans" in out
    assert "Times shifted by +" in out
    assert "Old.DEFAULT" in out
    assert "Finished:" in out
    assert '"numberOfSessionsCompleted"' in out.split("Finished:")[1]
