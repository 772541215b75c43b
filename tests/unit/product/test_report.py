"""`batcheval report` on result files: the numbers, the Markdown, and the HTML's contents."""

from __future__ import annotations

import json
import math

from batcheval.cli import main
from batcheval.product import report_data
from batcheval.product.report_data import Price
from tests.unit.product.results_factory import HELPFUL, TOOLS, record, run


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_report_numbers_come_from_the_results():
    # Given a seeded run
    records = run(seed=1)
    # When the report data is built with a price
    data = report_data.build("t", "file", records, price=Price(3.0, 15.0))
    # Then the summary mean, scenario breakdown, worst sessions and cost follow from the records
    helpful = [r["value"] for r in records if r["evaluatorId"] == HELPFUL]
    summary = next(s for s in data.summaries if s.evaluator_id == HELPFUL)
    assert summary.average_score is not None
    assert math.isclose(summary.average_score, sum(helpful) / len(helpful))
    assert len(data.scenarios) == 12
    refund = next(
        r["value"] for r in records if r["evaluatorId"] == HELPFUL and r["testScenarioId"] == "refund-1"
    )
    assert data.scenarios["refund-1"][HELPFUL].mean == refund
    tokens_in = sum(1000 + i for i in range(12))
    assert data.tokens == {"inputTokens": tokens_in, "outputTokens": 1200, "totalTokens": tokens_in + 1200}
    assert data.cost_usd is not None
    assert math.isclose(data.cost_usd, (tokens_in * 3 + 1200 * 15) / 1e6)
    # And the session with an unscored result is among the worst, with the reason
    s5 = next(row for row in data.worst if row.session_id == "s-5")
    assert [f.error for f in s5.findings] == ["JudgeUnavailable: JudgeUnavailable happened"]


def test_worst_sessions_are_ordered_by_failing_results_then_mean():
    records = [
        record("a", HELPFUL, 0.4),
        record("a", TOOLS, 0.5),
        record("b", HELPFUL, 0.1),
        record("c", HELPFUL, 0.9),
    ]
    data = report_data.build("t", "file", records)
    assert [row.session_id for row in data.worst] == ["a", "b"]


def test_report_writes_markdown_and_html_from_an_evaluate_file(tmp_path, capsys):
    # Given a result file in `batcheval evaluate --format json` shape
    records = run(seed=2)
    source = tmp_path / "evaluate.json"
    source.write_text(json.dumps({"results": records, "evaluatorSummaries": []}))
    # When a report is written
    code = main(
        ["report", str(source), "--html", str(tmp_path / "r.html"), "--markdown", str(tmp_path / "r.md")]
    )
    # Then both files exist, the HTML inlines plotly (no network), the Markdown has the summary table
    assert code == 0
    html = (tmp_path / "r.html").read_text()
    assert "<script src=" not in html
    assert "Plotly.newPlot" in html
    markdown = (tmp_path / "r.md").read_text()
    assert f"| {HELPFUL} |" in markdown
    assert "### By testScenarioId" in markdown
    assert "written to" in capsys.readouterr().err


def test_report_prints_markdown_when_no_file_is_asked_for(tmp_path, capsys):
    source = _jsonl(tmp_path / "run.jsonl", run(seed=3))
    assert main(["report", source]) == 0
    assert capsys.readouterr().out.startswith("## batcheval report: ")


def test_report_with_a_baseline_shows_the_comparison(tmp_path, capsys):
    baseline = _jsonl(tmp_path / "base.jsonl", run(seed=4))
    candidate = _jsonl(tmp_path / "cand.jsonl", run(seed=4, shift=-0.3))
    assert main(["report", candidate, "--baseline", baseline]) == 0
    out = capsys.readouterr().out
    assert f"### Compared with {baseline}: **regression**" in out


def test_a_file_that_is_not_results_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"hello": 1}\n')
    assert main(["report", str(bad)]) == 2
    assert "not a result record" in capsys.readouterr().err


def test_report_price_flag_adds_the_cost(tmp_path, capsys):
    source = _jsonl(tmp_path / "run.jsonl", run(seed=8))
    assert main(["report", source, "--price", "3:15"]) == 0
    tokens_in = sum(1000 + i for i in range(12))
    assert f"cost ${(tokens_in * 3 + 1200 * 15) / 1e6:.4f}" in capsys.readouterr().out
    assert main(["report", source, "--price", "cheap"]) == 2
