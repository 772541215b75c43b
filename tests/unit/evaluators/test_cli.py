import json

import pytest

import batcheval.judges.factory as judge_factory
from batcheval.cli import main
from batcheval.evaluators import cli as evaluators_cli
from batcheval.traces.assemble import SkipCount
from batcheval.traces.files import SessionLoad
from tests.unit.evaluators.builders import call, label_judge, session, turn
from tests.unit.evaluators.definitions_fixtures import MODEL, llm

SESSIONS = [
    session("s1", turn(1, user="book a flight", tools=(call("search", 1), call("book", 2)))),
    session("s2", turn(2, tools=(call("search", 3, status="error"),))),
]


@pytest.fixture
def spans(monkeypatch, tmp_path):
    # The span-file loader belongs to the traces feature: the CLI is tested with it replaced.
    seen = []

    def fake_loader(path):
        seen.append(path)
        return SessionLoad(sessions=SESSIONS, skipped=[SkipCount("malformed JSON", 1)])

    monkeypatch.setattr(evaluators_cli, "_load_sessions", fake_loader)
    path = tmp_path / "spans.jsonl"
    path.write_text("")
    return str(path), seen


def test_evaluators_lists_the_registry_as_json(capsys):
    # Given the registry, When listed as JSON, Then built-ins and ours appear with their label scores
    assert main(["evaluators", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["evaluators"]
    ids = [e["evaluatorId"] for e in listed]
    assert "Builtin.Helpfulness" in ids
    assert "ThirdParty.Batcheval.ToolErrorRate" in ids
    refusal = next(e for e in listed if e["evaluatorId"] == "Builtin.Refusal")
    assert refusal["labels"] == {"Yes": 0.0, "No": 1.0}


def test_evaluators_table_includes_custom_definitions(capsys, tmp_path):
    # Given a custom definitions file, When listed as a table, Then the custom evaluator appears
    (tmp_path / "custom.json").write_text(json.dumps([llm()]))
    assert main(["evaluators", "--custom-evaluators", str(tmp_path / "custom.json")]) == 0
    out = capsys.readouterr().out
    assert "evaluatorId" in out.splitlines()[0]
    assert "tone_check-" in out


def test_evaluate_code_evaluators_with_ground_truth_prints_results_and_summaries(spans, tmp_path, capsys):
    # Given spans for two sessions and ground truth for one
    path, seen = spans
    truth = tmp_path / "gt.json"
    truth.write_text(
        json.dumps(
            [
                {
                    "sessionId": "s1",
                    "groundTruth": {"inline": {"expectedTrajectory": {"toolNames": ["search", "book"]}}},
                }
            ]
        )
    )
    # When two code evaluators run
    code = main(
        [
            "evaluate",
            "--spans",
            path,
            "--ground-truth",
            str(truth),
            "--evaluator",
            "Builtin.TrajectoryExactOrderMatch",
            "--evaluator",
            "ThirdParty.Batcheval.ToolErrorRate",
        ]
    )
    captured = capsys.readouterr()
    output = json.loads(captured.out)
    # Then the run succeeds although one result is an error, and the output is results + summaries
    assert code == 0
    assert seen == [path]
    by_key = {(r["evaluatorId"], r["context"]["spanContext"]["sessionId"]): r for r in output["results"]}
    assert by_key[("Builtin.TrajectoryExactOrderMatch", "s1")]["value"] == 1.0
    assert by_key[("Builtin.TrajectoryExactOrderMatch", "s2")]["errorCode"] == "MissingGroundTruth"
    assert by_key[("ThirdParty.Batcheval.ToolErrorRate", "s2")]["value"] == 1.0
    summary = output["evaluatorSummaries"][0]
    assert summary == {
        **summary,
        "evaluatorId": "Builtin.TrajectoryExactOrderMatch",
        "totalEvaluated": 1,
        "totalFailed": 1,
    }
    assert summary["statistics"] == {"averageScore": 1.0}
    assert "skipped 1 record(s): malformed JSON" in captured.err


def test_evaluate_llm_evaluator_uses_the_judge_factory(spans, monkeypatch, capsys):
    # Given an LLM evaluator and --judge/--model, When evaluate runs, Then make_judge gets them and a table
    # prints
    path, _ = spans
    calls = []

    def make_judge(spec, *, clients=None, model_id=None, **_):
        calls.append((spec, model_id))
        return label_judge("Yes")

    monkeypatch.setattr(judge_factory, "make_judge", make_judge)
    code = main(
        [
            "evaluate",
            "--spans",
            path,
            "--evaluator",
            "Builtin.ToolSelectionAccuracy",
            "--judge",
            "openai:http://localhost:1/v1",
            "--model",
            "m",
            "--format",
            "table",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert calls == [("openai:http://localhost:1/v1", "m")]
    assert "Builtin.ToolSelectionAccuracy" in out
    assert "passRate" in out


def test_evaluate_passes_the_shells_judge_variables_to_the_factory(spans, monkeypatch):
    # Given the judge variables the factory once read itself, set in the shell, and no --model
    path, _ = spans
    monkeypatch.setenv("BATCHEVAL_OPENAI_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-shell")
    monkeypatch.setenv("BATCHEVAL_JUDGE_TOKENS_PER_MINUTE", "120000")
    monkeypatch.setenv("BATCHEVAL_JUDGE_MAX_IN_FLIGHT", "3")
    calls = []

    def make_judge(spec, *, clients=None, model_id=None, **options):
        calls.append((model_id, options))
        return label_judge("Yes")

    monkeypatch.setattr(judge_factory, "make_judge", make_judge)
    # When evaluate runs an LLM evaluator
    argv = ["evaluate", "--spans", path, "--evaluator", "Builtin.ToolSelectionAccuracy"]
    assert main([*argv, "--judge", "openai:http://localhost:1/v1"]) == 0
    # Then the CLI edge read them and passed each to the (environment-blind) factory
    assert calls == [
        ("qwen2.5:7b", {"api_key": "sk-shell", "tokens_per_minute": 120_000.0, "max_in_flight": 3})
    ]


def test_evaluate_names_a_bad_judge_variable(spans, monkeypatch, capsys):
    # Given a non-numeric quota in the shell, When an LLM evaluator runs, Then a usage error names it
    path, _ = spans
    monkeypatch.setenv("BATCHEVAL_JUDGE_TOKENS_PER_MINUTE", "lots")
    argv = ["evaluate", "--spans", path, "--evaluator", "Builtin.ToolSelectionAccuracy"]
    assert main([*argv, "--judge", "openai:http://localhost:1/v1", "--model", "m"]) == 2
    assert "BATCHEVAL_JUDGE_TOKENS_PER_MINUTE" in capsys.readouterr().err


def test_custom_llm_evaluators_need_no_model_flag(spans, monkeypatch, tmp_path, capsys):
    # Given only a custom LLM evaluator (it names its own model) and an OpenAI-compatible judge
    path, _ = spans
    (tmp_path / "custom.json").write_text(json.dumps([llm()]))
    calls = []

    def make_judge(spec, *, clients=None, model_id=None, **_):
        calls.append(model_id)
        return label_judge("Good")

    monkeypatch.setattr(judge_factory, "make_judge", make_judge)
    main(["evaluators", "--custom-evaluators", str(tmp_path / "custom.json"), "--format", "json"])
    (custom_id,) = [
        e["evaluatorId"]
        for e in json.loads(capsys.readouterr().out)["evaluators"]
        if "tone_check" in e["evaluatorId"]
    ]
    # When evaluate runs without --model
    args = ["evaluate", "--spans", path, "--custom-evaluators", str(tmp_path / "custom.json")]
    code = main([*args, "--evaluator", custom_id, "--judge", "openai:http://localhost:1/v1"])
    # Then the judge is built with the definition's model as its default and the run completes
    assert code == 0
    assert calls == [MODEL["bedrockEvaluatorModelConfig"]["modelId"]]


def test_judge_is_not_built_for_code_only_runs(spans, monkeypatch):
    # Given only code evaluators, When evaluate runs, Then no judge is built
    path, _ = spans

    def explode(*_args, **_kw):
        raise AssertionError("no judge needed")

    monkeypatch.setattr(judge_factory, "make_judge", explode)
    assert main(["evaluate", "--spans", path, "--evaluator", "ThirdParty.Batcheval.TurnLatency"]) == 0


def test_unknown_evaluator_is_a_usage_error_with_suggestions(spans, capsys):
    # Given a misspelt id, When evaluate runs, Then it exits 2 suggesting the real id
    path, _ = spans
    assert main(["evaluate", "--spans", path, "--evaluator", "Builtin.Helpfulnes"]) == 2
    assert "did you mean Builtin.Helpfulness" in capsys.readouterr().err


def test_bad_ground_truth_and_bad_judge_are_usage_errors(spans, tmp_path, capsys):
    # Given invalid ground truth or judge spec, When evaluate runs, Then it exits 2
    path, _ = spans
    bad = tmp_path / "gt.json"
    bad.write_text(json.dumps([{"groundTruth": {}}]))
    assert (
        main(["evaluate", "--spans", path, "--ground-truth", str(bad), "--evaluator", "Builtin.Coherence"])
        == 2
    )
    assert str(bad) in capsys.readouterr().err
    assert main(["evaluate", "--spans", path, "--evaluator", "Builtin.Coherence", "--judge", "nonsense"]) == 2
    assert "error" in capsys.readouterr().err


def test_ground_truth_that_is_not_json_is_a_usage_error_naming_the_file(spans, tmp_path, capsys):
    # Given a ground-truth file that is not JSON
    path, _ = spans
    bad = tmp_path / "gt.json"
    bad.write_text("not json")
    # When evaluate runs, Then it exits 2 and the message names the file
    args = ["evaluate", "--spans", path, "--ground-truth", str(bad)]
    assert main([*args, "--evaluator", "ThirdParty.Batcheval.TurnLatency"]) == 2
    assert f"{bad}: not valid JSON" in capsys.readouterr().err


def test_unreadable_spans_file_is_a_usage_error(capsys):
    # Given a spans file that does not exist, When evaluate runs, Then it exits 2 naming the file
    assert main(["evaluate", "--spans", "/nope.jsonl", "--evaluator", "Builtin.Coherence"]) == 2
    assert "/nope.jsonl" in capsys.readouterr().err


def test_repeated_evaluator_is_a_usage_error(spans, capsys):
    # Given the same evaluator twice, When evaluate runs, Then it exits 2
    path, _ = spans
    args = ["evaluate", "--spans", path, "--evaluator", "ThirdParty.Batcheval.TurnLatency"]
    assert main([*args, "--evaluator", "ThirdParty.Batcheval.TurnLatency"]) == 2
    assert "more than once" in capsys.readouterr().err
