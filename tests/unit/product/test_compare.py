"""`batcheval compare`: pairing, paired statistics (seeded), regressions, and the CI gate."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from batcheval.cli import main
from batcheval.product import report_cli
from batcheval.product.compare import bootstrap_ci, compare, sign_flip_p_value
from tests.unit.product.results_factory import HELPFUL, TOOLS, record, run


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_exact_sign_flip_p_value():
    # Five pairs all +1: only the all-plus and all-minus patterns are as extreme: 2 / 2^5
    assert sign_flip_p_value([1.0] * 5, seed=0) == 2 / 32
    # No change at all is never significant
    assert sign_flip_p_value([0.0] * 5, seed=0) == 1.0


def test_monte_carlo_p_value_and_bootstrap_are_seeded():
    effects = [0.1 * ((i % 7) - 2) for i in range(40)]
    assert sign_flip_p_value(effects, seed=3) == sign_flip_p_value(effects, seed=3)
    ci = bootstrap_ci(effects, seed=3)
    assert ci is not None
    assert ci == bootstrap_ci(effects, seed=3)
    low, high = ci
    assert low <= sum(effects) / len(effects) <= high


def test_pairing_by_scenario_else_session_and_unmatched_listed():
    baseline = [
        record("b-1", HELPFUL, 0.8, scenario="x"),
        record("same", HELPFUL, 0.5),
        record("gone", HELPFUL, 0.5),
    ]
    candidate = [
        record("c-9", HELPFUL, 0.6, scenario="x"),
        record("same", HELPFUL, 0.7),
        record("new", HELPFUL, 0.1),
    ]
    result = compare("base", baseline, "cand", candidate)
    helpful = result.evaluators[0]
    # x pairs across different session ids; "same" pairs by session id; the rest are unmatched
    assert helpful.pairs == 2
    assert [d.unit for d in helpful.regressions] == ["x"]
    assert result.only_baseline == ("gone",)
    assert result.only_candidate == ("new",)


def test_lower_is_better_evaluators_regress_when_their_score_rises():
    baseline = [record(f"s{i}", TOOLS, 0.0) for i in range(8)]
    candidate = [record(f"s{i}", TOOLS, 0.5) for i in range(8)]
    tools = compare("b", baseline, "c", candidate).evaluators[0]
    assert tools.mean_effect == -0.5
    assert tools.regressed


def test_compare_files_as_a_ci_gate(tmp_path, capsys):
    # Given a baseline and a candidate whose helpfulness dropped by 0.2 on every scenario
    baseline = _jsonl(tmp_path / "base.jsonl", run(seed=5))
    worse = _jsonl(tmp_path / "worse.jsonl", run(seed=5, shift=-0.2))
    # When compared with the gate on, Then the exit code fails the build and the sessions are listed
    assert main(["compare", baseline, worse, "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSED" in out
    assert "regressed sessions" in out
    assert "baseline:  helpful" in out
    assert "candidate: helpful" in out
    # And a drop smaller than --min-delta does not fail it
    assert main(["compare", baseline, worse, "--fail-on-regression", "--min-delta", "0.25"]) == 0
    # And without the flag a regression is reported but exits 0
    assert main(["compare", baseline, worse]) == 0


def test_compare_json_documents_the_method(tmp_path, capsys):
    baseline = _jsonl(tmp_path / "base.jsonl", run(seed=6))
    same = _jsonl(tmp_path / "same.jsonl", run(seed=6))
    assert main(["compare", baseline, same, "--format", "json", "--fail-on-regression"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["regressed"] is False
    assert "sign-flip permutation" in result["method"]["pValue"]
    assert {e["evaluator"] for e in result["evaluators"]} == {HELPFUL, TOOLS}


@mock_aws
def test_compare_two_jobs_reads_their_exports(tmp_path, capsys, monkeypatch):
    # Given two finished jobs whose results are exported to S3
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="payloads")
    jobs = {}
    for job_id, shift in (("base-aaaaaaaaaa", 0.0), ("cand-bbbbbbbbbb", -0.2)):
        prefix = f"jobs/123456789012/{job_id}/results/"
        body = "".join(json.dumps(r) + "\n" for r in run(seed=7, shift=shift))
        s3.put_object(Bucket="payloads", Key=prefix + "part-1.jsonl", Body=body)
        jobs[job_id] = {
            "batchEvaluationId": job_id,
            "batchEvaluationName": job_id.split("-")[0],
            "status": "COMPLETED",
            "resultsExport": {"s3Uri": f"s3://payloads/{prefix}", "format": "JSONL"},
        }

    class Client:
        def get_batch_evaluation(self, batchEvaluationId):
            return jobs[batchEvaluationId]

    monkeypatch.setattr(report_cli, "make_client", lambda args: Client())
    # When compared by job id, Then the regression is found
    code = main(
        ["compare", "base-aaaaaaaaaa", "cand-bbbbbbbbbb", "--fail-on-regression", "--region", "us-east-1"]
    )
    assert code == 1
    assert "baseline base vs candidate cand" in capsys.readouterr().out
    # And a job's report is written from its export too
    page = tmp_path / "job.html"
    assert main(["report", "cand-bbbbbbbbbb", "--html", str(page), "--region", "us-east-1"]) == 0
    assert "job cand-bbbbbbbbbb" in page.read_text()


@pytest.mark.parametrize("bad", ["nope-cccccccccc"])
def test_an_unknown_source_is_a_service_error(bad, monkeypatch, capsys):
    from botocore.exceptions import ClientError

    class Client:
        def get_batch_evaluation(self, batchEvaluationId):
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "no such job"}}, "Get"
            )

    monkeypatch.setattr(report_cli, "make_client", lambda args: Client())
    assert main(["compare", bad, bad]) == 1
    assert "ResourceNotFoundException: no such job" in capsys.readouterr().err


def test_compare_markdown_for_a_pull_request(tmp_path, capsys):
    baseline = _jsonl(tmp_path / "base.jsonl", run(seed=9))
    worse = _jsonl(tmp_path / "worse.jsonl", run(seed=9, shift=-0.2))
    assert main(["compare", baseline, worse, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"### Compared with {baseline}: **regression**")
    assert "| evaluator | pairs |" in out
