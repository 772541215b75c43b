"""Rough edges a new user hit (issue 13, point 7): each one pinned by a test."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import batcheval
import batcheval.judges.factory as judge_factory
from batcheval.cli import main
from batcheval.errors import JudgeError
from batcheval.judges.fake import ScriptedJudge

ROOT = Path(__file__).resolve().parents[3]
LANGGRAPH = ROOT / "tests/fixtures/spans/langgraph/openinference.jsonl"
LANGGRAPH_TRUTH = ROOT / "examples/langgraph-ground-truth.json"


def _run_with_closed_stdout(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI with a stdout pipe whose reader is already gone (what `| head` leaves behind)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "batcheval.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, b"", err)


@pytest.mark.parametrize(
    "args",
    [
        ("evaluators", "--format", "json"),
        ("evaluate", "--spans", str(LANGGRAPH), "--evaluator", "ThirdParty.Batcheval.ToolErrorRate"),
    ],
)
def test_a_closed_pipe_ends_quietly(args):
    # Given a reader that closed the pipe, When a command prints, Then it exits 0 without a traceback
    done = _run_with_closed_stdout(*args)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    assert b"BrokenPipeError" not in done.stderr


def test_version_flag_prints_the_package_version(capsys):
    # When `batcheval --version` runs, Then it prints the version and exits 0
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"batcheval {batcheval.__version__}"


def test_table_shows_why_a_result_is_unscored_and_the_pass_rule(capsys):
    # Given a trajectory evaluator and no ground truth, When evaluated as a table
    code = main(
        [
            *("evaluate", "--spans", str(LANGGRAPH), "--evaluator", "Builtin.TrajectoryExactOrderMatch"),
            *("--evaluator", "ThirdParty.Batcheval.ToolErrorRate", "--format", "table"),
        ]
    )
    out = capsys.readouterr().out
    # Then the unscored results carry their reason and the summary says what passRate counts
    assert code == 0
    assert "MissingGroundTruth: " in out
    assert "passes when" in out
    assert "score <= 0" in out  # ToolErrorRate: lower is better, only error-free sessions pass


def test_progress_goes_to_stderr_and_stdout_stays_json(capsys):
    # When evaluate runs, Then stderr reports reading and sessions done, and stdout is pure JSON
    code = main(["evaluate", "--spans", str(LANGGRAPH), "--evaluator", "ThirdParty.Batcheval.ToolErrorRate"])
    assert code == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["results"]
    assert "read 2 session(s)" in captured.err
    assert "evaluating: 2/2 sessions done, 0 failed" in captured.err


def test_unreachable_judge_is_said_plainly_and_fails(monkeypatch, capsys):
    # Given a judge that can never be reached
    def make_judge(spec, **_):
        return ScriptedJudge(default=JudgeError("JudgeUnavailable", "cannot reach http://127.0.0.1:9/v1"))

    monkeypatch.setattr(judge_factory, "make_judge", make_judge)
    # When an LLM evaluator runs
    code = main(
        [
            *("evaluate", "--spans", str(LANGGRAPH), "--evaluator", "Builtin.Helpfulness"),
            *("--judge", "openai:http://127.0.0.1:9/v1", "--model", "m"),
        ]
    )
    err = capsys.readouterr().err
    # Then the run fails and the error names the cause instead of exiting 0 with unscored results
    assert code == 1
    assert "the judge could not be reached" in err
    assert "cannot reach http://127.0.0.1:9/v1" in err


def test_a_file_without_sessions_is_an_input_error(capsys):
    # When the spans file is not spans at all (a README), Then it is an input error, not an empty table
    code = main(["evaluate", "--spans", str(ROOT / "README.md"), "--evaluator", "Builtin.Helpfulness"])
    assert code == 2
    assert "no agent session found" in capsys.readouterr().err


def test_inspect_says_what_it_counts(capsys):
    # Given a session with a failed tool call and no span problems, When inspected
    assert main(["inspect", "--spans", str(LANGGRAPH)]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    # Then the summary separates failed tool calls from sessions with span problems
    assert "(1 failed, in 1 session(s))" in summary
    assert "0 session(s) with span problems" in summary


def test_help_describes_commands_and_columns(capsys):
    # When asking for help, Then the commands, the --format option and inLaunchSet are explained
    for command in ("evaluators", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "json for scripts" in text or "json (default)" in text
        if command == "evaluators":
            assert "inLaunchSet = part of AgentCore's launch set" in text
        else:
            assert "Score the agent sessions in a spans file" in text


def test_shipped_ground_truth_example_gives_trajectory_scores(capsys):
    # Given the shipped example ground truth, When the README's evaluate example runs with it
    code = main(
        [
            *("evaluate", "--spans", str(LANGGRAPH), "--ground-truth", str(LANGGRAPH_TRUTH)),
            *("--evaluator", "Builtin.TrajectoryAnyOrderMatch"),
        ]
    )
    results = json.loads(capsys.readouterr().out)["results"]
    # Then every session gets a trajectory score, none is MissingGroundTruth
    assert code == 0
    assert len(results) == 2
    assert all("value" in r and "errorCode" not in r for r in results)
