"""`batcheval evaluate` on spans recorded from real agent libraries, with a ground-truth file.

Nothing is replaced: the real span loader, ground-truth parser, code evaluators and summaries run.
"""

import json
from pathlib import Path

import pytest

from batcheval.cli import main

FIXTURES = Path(__file__).parents[2] / "fixtures" / "spans"
RECORDINGS = sorted(FIXTURES.glob("*/*.jsonl"))

GROUND_TRUTH = [
    {
        "sessionId": "strands-session-1",
        "groundTruth": {"inline": {"expectedTrajectory": {"toolNames": ["get_weather"] * 3}}},
    },
]


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recorded_sessions_score_the_same_whatever_the_framework(recording, tmp_path, capsys):
    # Given a recording of the scripted weather conversation (two turns, one failed tool call and its
    # retry: three get_weather calls; then a plain session) and ground truth naming that trajectory
    session_id = recording.parent.name.replace("_", "-") + "-session-1"
    truth = [{**GROUND_TRUTH[0], "sessionId": session_id}]
    truth_file = tmp_path / "gt.json"
    truth_file.write_text(json.dumps(truth))

    # When the CLI evaluates it with a trajectory matcher and our tool-error rate
    code = main(
        [
            "evaluate",
            "--spans",
            str(recording),
            "--ground-truth",
            str(truth_file),
            "--evaluator",
            "Builtin.TrajectoryExactOrderMatch",
            "--evaluator",
            "ThirdParty.Batcheval.ToolErrorRate",
            "--format",
            "json",
        ]
    )
    output = json.loads(capsys.readouterr().out)

    # Then the run succeeds and the trajectory of the first session is scored against the ground truth.
    assert code == 0
    by_key = {(r["evaluatorId"], r["context"]["spanContext"]["sessionId"]): r for r in output["results"]}
    trajectory = by_key[("Builtin.TrajectoryExactOrderMatch", session_id)]
    assert trajectory["value"] == 1.0
    assert trajectory.get("errorCode") is None
    # And one of the three tool calls failed
    errors = by_key[("ThirdParty.Batcheval.ToolErrorRate", session_id)]
    assert errors["value"] == pytest.approx(1 / 3, abs=1e-3)
    # And the session without ground truth is an explicit error, not a score
    other = next(
        r
        for r in output["results"]
        if r["evaluatorId"] == "Builtin.TrajectoryExactOrderMatch"
        and r["context"]["spanContext"]["sessionId"] != session_id
    )
    assert other["errorCode"] == "MissingGroundTruth"
    assert "value" not in other
    summary = {s["evaluatorId"]: s for s in output["evaluatorSummaries"]}
    assert summary["Builtin.TrajectoryExactOrderMatch"]["totalEvaluated"] == 1
    assert summary["Builtin.TrajectoryExactOrderMatch"]["totalFailed"] == 1
