"""The Markdown report: the same numbers as the HTML one, sized for a pull-request comment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from batcheval.product.report_data import ReportData
from batcheval.product.views import pass_rule

WORST_IN_MARKDOWN = 5
EXPLANATION_MAX = 200


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _clip(text: str | None) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= EXPLANATION_MAX else text[: EXPLANATION_MAX - 1] + "…"


def render(data: ReportData) -> str:
    lines = [
        f"## {data.title}",
        "",
        f"{data.source} · {data.sessions} session(s) · {data.results} result(s)",
        "",
    ]
    rows = []
    for s in data.summaries:
        name = s.evaluator_id + (f"/{s.evaluation_dimension_name}" if s.evaluation_dimension_name else "")
        ext = s.extended
        ci = ext.get("ci95")
        rows.append(
            [
                name,
                _fmt(s.average_score),
                s.total_evaluated,
                s.total_failed,
                _fmt(ext.get("p50")),
                "" if not ci else f"[{ci['low']:.3f}, {ci['high']:.3f}]",
                _fmt(ext.get("passRate")),
                pass_rule(ext) or "",
            ]
        )
    lines += _table(
        ["evaluator", "mean", "evaluated", "failed", "p50", "95% CI", "pass rate", "passes when"], rows
    )
    if data.comparison is not None:
        lines += ["", *comparison_lines(data.comparison)]
    if data.scenarios:
        lines += ["", "### By testScenarioId", ""]
        lines += _table(
            ["scenario", "evaluator", "results", "mean", "pass rate"],
            [
                [scenario, evaluator, cell.count, _fmt(cell.mean), _fmt(cell.pass_rate)]
                for scenario, cells in data.scenarios.items()
                for evaluator, cell in cells.items()
            ],
        )
    lines += ["", f"<details><summary>Worst sessions ({len(data.worst)})</summary>", ""]
    for row in data.worst[:WORST_IN_MARKDOWN]:
        scenario = f" (scenario `{row.scenario}`)" if row.scenario else ""
        lines.append(f"- **{row.session_id}**{scenario}: {row.failing} failing result(s)")
        for f in row.findings:
            detail = f.error if f.error else f"{f.label or ''} {_fmt(f.value)} — {_clip(f.explanation)}"
            lines.append(f"  - {f.evaluator}: {_clip(detail)}")
    lines += ["", "</details>", ""]
    t = data.tokens
    cost = f" · cost ${data.cost_usd:.4f}" if data.cost_usd is not None else ""
    lines.append(f"Judge tokens: {t['totalTokens']} ({t['inputTokens']} in, {t['outputTokens']} out){cost}")
    return "\n".join(lines) + "\n"


def comparison_lines(comparison: Any) -> list[str]:
    verdict = "**regression**" if comparison.regressed else "no significant regression"
    lines = [
        f"### Compared with {comparison.baseline}: {verdict}",
        "",
        f"Matched by {comparison.matched_by}; effect = candidate - baseline (negative = worse); "
        f"alpha {comparison.alpha}, min delta {comparison.min_delta}.",
        "",
    ]
    rows = [
        [
            e.evaluator,
            e.pairs,
            _fmt(e.baseline_mean),
            _fmt(e.candidate_mean),
            "" if e.mean_effect is None else f"{e.mean_effect:+.3f}",
            "" if e.ci95 is None else f"[{e.ci95[0]:+.3f}, {e.ci95[1]:+.3f}]",
            "" if e.p_value is None else f"{e.p_value:.4f}",
            "REGRESSED" if e.regressed else "",
        ]
        for e in comparison.evaluators
    ]
    lines += _table(["evaluator", "pairs", "baseline", "candidate", "effect", "95% CI", "p", ""], rows)
    return lines
