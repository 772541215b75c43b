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
