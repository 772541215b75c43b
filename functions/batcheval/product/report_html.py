"""The self-contained HTML report: plotly charts with plotly.js inlined, so the file works offline.

The page records its own health for people and tests alike: `data-rendered` on <body> counts the
charts drawn, `data-js-errors` holds any script error.
"""

from __future__ import annotations

import html
from typing import Any

from batcheval.product.report_data import ReportData
from batcheval.product.views import pass_rule

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2330}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dde}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{padding:.25rem .6rem;border-bottom:1px solid #eef;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#b3261e}.good{color:#1b7f3b}
.muted{color:#667}.session{margin:.8rem 0;padding:.5rem .8rem;background:#f7f8fb;border-radius:6px}
.finding{margin:.2rem 0 .2rem 1rem}.chart{width:100%;height:340px}
"""

_GUARD = """
window.__errors=[];
function __noteError(m){window.__errors.push(String(m));
  document.documentElement.setAttribute('data-js-errors',window.__errors.join(' | '));}
window.addEventListener('error',function(e){__noteError(e.message)});
window.addEventListener('unhandledrejection',function(e){__noteError(e.reason)});
"""


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _td(value: Any, *, evaluator: str | None = None, metric: str | None = None, css: str = "num") -> str:
    text = _fmt(value) if isinstance(value, float) else ("" if value is None else str(value))
    attributes = ""
    if evaluator is not None and metric is not None:
        attributes = f' data-evaluator="{html.escape(evaluator)}" data-metric="{metric}"'
    return f'<td class="{css}"{attributes}>{html.escape(text)}</td>'


class _Charts:
    """Collects figures (plotly JSON) and emits their divs and one script that draws them all."""

    def __init__(self) -> None:
        self.figures: list[tuple[str, str]] = []

    def add(self, figure: Any) -> str:
        chart_id = f"chart-{len(self.figures) + 1}"
        self.figures.append((chart_id, figure.to_json()))
        return f'<div class="chart" id="{chart_id}"></div>'

    def script(self) -> str:
        calls = ",".join(
            f"Plotly.newPlot('{chart_id}',(f={spec}).data,f.layout,{{displaylogo:false,responsive:true}})"
            for chart_id, spec in self.figures
        )
        return (
            "<script>var f;Promise.all(["
            + calls
            + "]).then(function(){document.body.setAttribute('data-rendered',String("
            + str(len(self.figures))
            + "))}).catch(function(e){__noteError(e)});</script>"
        )


def render(data: ReportData) -> str:
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    charts = _Charts()
    parts = [
        f"<h1>{html.escape(data.title)}</h1>",
        f'<p class="muted">{html.escape(data.source)} · <span id="sessions">{data.sessions}</span> '
        f'session(s) · <span id="results">{data.results}</span> result(s)</p>',
        _summary(data),
    ]
    rated = [s for s in data.summaries if "passRate" in s.extended]
    if rated:
        names = [_name(s) for s in rated]
        rates = [s.extended["passRate"] for s in rated]
        bar = go.Figure(
            go.Bar(
                x=names,
                y=rates,
                text=[_fmt(r) for r in rates],
                textposition="outside",
                marker_color="#3b6fd8",
            ),
            layout={"title": "Pass rate per evaluator", "yaxis": {"range": [0, 1.15], "title": "pass rate"}},
        )
        parts += ["<h2>Pass rates</h2>", charts.add(bar)]
    parts.append("<h2>Score distributions</h2>")
    for summary in data.summaries:
        name = _name(summary)
        values = data.scores.get(name)
        if not values:
            parts.append(f'<p class="muted">{html.escape(name)}: no scored results.</p>')
            continue
        unit_range = min(values) >= 0 and max(values) <= 1
        histogram = go.Figure(
            go.Histogram(
                x=values,
                # Scores on a 0-1 scale get fixed 0.1-wide bins centred on 0, 0.1, ..., 1 (so 1.0 is
                # drawn, and charts of different runs line up).
                xbins={"start": -0.05, "end": 1.05, "size": 0.1} if unit_range else None,
                marker_color="#6c8ebf",
            ),
            layout={
                "title": f"{name} (n={len(values)})",
                "xaxis": {"title": "score", **({"range": [-0.05, 1.05]} if unit_range else {})},
                "yaxis": {"title": "results"},
                "bargap": 0.05,
            },
        )
        threshold = data.policies[name].threshold
        if threshold is not None:
            histogram.add_vline(
                x=threshold,
                line_dash="dash",
                line_color="#b3261e",
                annotation_text=pass_rule(
                    {"passThreshold": threshold, "polarity": data.policies[name].polarity}
                )
                or "",
            )
        parts.append(charts.add(histogram))
    if data.scenarios:
        parts += ["<h2>By testScenarioId</h2>", _scenarios(data)]
        evaluators = list(dict.fromkeys(k for cells in data.scenarios.values() for k in cells))
        scenarios = list(data.scenarios)
        heat = go.Figure(
            go.Heatmap(
                z=[[_mean_or_none(data, s, e) for e in evaluators] for s in scenarios],
                x=evaluators,
                y=scenarios,
                colorscale="RdYlGn",
                zmin=0,
                zmax=1,
            ),
            layout={"title": "Mean score by scenario"},
        )
        parts.append(charts.add(heat))
    parts += ["<h2>Worst sessions</h2>", _worst(data), "<h2>Tokens and cost</h2>", _tokens(data)]
    if data.comparison is not None:
        parts += _comparison(data, charts, go)
    body = "\n".join(parts)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(data.title)}</title><style>{_STYLE}</style>"
        f"<script>{_GUARD}</script><script>{get_plotlyjs()}</script></head>"
        f"<body>{body}{charts.script()}</body></html>"
    )


def _name(summary: Any) -> str:
    dimension = summary.evaluation_dimension_name
    return summary.evaluator_id + (f"/{dimension}" if dimension else "")


def _mean_or_none(data: ReportData, scenario: str, evaluator: str) -> float | None:
    cell = data.scenarios[scenario].get(evaluator)
    return None if cell is None else cell.mean


def _summary(data: ReportData) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "evaluator",
            "mean",
            "evaluated",
            "failed",
            "stddev",
            "p50",
            "p90",
            "95% CI",
            "pass rate",
            "passes when",
        )
    )
    rows = []
    for summary in data.summaries:
        name, ext = _name(summary), summary.extended
        ci = ext.get("ci95")
        rows.append(
            "<tr>"
            + f"<td>{html.escape(name)}</td>"
            + _td(summary.average_score, evaluator=name, metric="mean")
            + _td(summary.total_evaluated, evaluator=name, metric="evaluated")
            + _td(summary.total_failed, evaluator=name, metric="failed")
            + _td(ext.get("stddev"))
            + _td(ext.get("p50"))
            + _td(ext.get("p90"))
            + _td(None if not ci else f"[{ci['low']:.3f}, {ci['high']:.3f}]")
            + _td(ext.get("passRate"), evaluator=name, metric="passRate")
            + _td(pass_rule(ext), css="")
            + "</tr>"
        )
    return f"<h2>Evaluators</h2><table id=summary><tr>{head}</tr>{''.join(rows)}</table>"


def _scenarios(data: ReportData) -> str:
    rows = []
    for scenario, cells in data.scenarios.items():
        for evaluator, cell in cells.items():
            rows.append(
                f"<tr><td>{html.escape(scenario)}</td>"
                f"<td>{html.escape(evaluator)}</td>{_td(cell.count)}{_td(cell.mean)}{_td(cell.pass_rate)}</tr>"
            )
    return (
        "<table id=scenarios><tr><th>scenario</th><th>evaluator</th><th>results</th><th>mean</th>"
        f"<th>pass rate</th></tr>{''.join(rows)}</table>"
    )


def _worst(data: ReportData) -> str:
    if not data.worst:
        return '<p class="good">No session has a failing or unscored result.</p>'
    blocks = []
    for row in data.worst:
        scenario = f" · scenario {html.escape(row.scenario)}" if row.scenario else ""
        findings = "".join(
            f'<div class="finding"><b>{html.escape(f.evaluator)}</b> '
            + (
                f'<span class="bad">{html.escape(f.error)}</span>'
                if f.error
                else f"{html.escape(f.label or '')} {_fmt(f.value)} — {html.escape(f.explanation or '')}"
            )
            + "</div>"
            for f in row.findings
        )
        blocks.append(
            f'<div class="session"><b>{html.escape(row.session_id)}</b>{scenario} · '
            f"{row.failing} failing result(s) · mean score {_fmt(row.mean_score) or 'n/a'}{findings}</div>"
        )
    return "".join(blocks)


def _tokens(data: ReportData) -> str:
    cost = (
        f'<span id="cost">${data.cost_usd:.4f}</span>'
        if data.cost_usd is not None
        else '<span class="muted">cost not computed: give --price IN:OUT (USD per million tokens)</span>'
    )
    t = data.tokens
    return (
        f'<p>judge tokens: <span id="tokens-total">{t["totalTokens"]}</span> '
        f"({t['inputTokens']} in, {t['outputTokens']} out) · {cost}</p>"
    )


def _comparison(data: ReportData, charts: _Charts, go: Any) -> list[str]:
    comparison = data.comparison
    rows = []
    for e in comparison.evaluators:
        css = "bad" if e.regressed else ""
        ci = "" if e.ci95 is None else f"[{e.ci95[0]:+.3f}, {e.ci95[1]:+.3f}]"
        effect = None if e.mean_effect is None else f"{e.mean_effect:+.3f}"
        rows.append(
            f'<tr class="{css}"><td>{html.escape(e.evaluator)}</td>{_td(e.pairs)}{_td(e.baseline_mean)}'
            + _td(e.candidate_mean)
            + _td(effect)
            + _td(ci)
            + _td(None if e.p_value is None else f"{e.p_value:.4f}")
            + f"<td>{'REGRESSED' if e.regressed else ''}</td></tr>"
        )
    parts = [
        f"<h2>Comparison with {html.escape(comparison.baseline)}</h2>",
        f'<p class="muted">matched by {comparison.matched_by}; effect = candidate - baseline, sign-flipped '
        "for lower-is-better evaluators (negative = worse); 95% CI by paired bootstrap; p by paired "
        f"sign-flip permutation test; alpha {comparison.alpha}, min delta {comparison.min_delta}, "
        f"seed {comparison.seed}</p>",
        "<table id=comparison><tr><th>evaluator</th><th>pairs</th><th>baseline</th><th>candidate</th>"
        f"<th>effect</th><th>95% CI</th><th>p</th><th></th></tr>{''.join(rows)}</table>",
    ]
    measured = [e for e in comparison.evaluators if e.mean_effect is not None]
    if measured:
        figure = go.Figure(
            go.Bar(
                x=[e.evaluator for e in measured],
                y=[e.mean_effect for e in measured],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [0 if e.ci95 is None else e.ci95[1] - e.mean_effect for e in measured],
                    "arrayminus": [0 if e.ci95 is None else e.mean_effect - e.ci95[0] for e in measured],
                },
                marker_color=["#b3261e" if e.regressed else "#3b6fd8" for e in measured],
            ),
            layout={"title": "Mean paired effect with 95% CI", "yaxis": {"title": "effect"}},
        )
        parts.append(charts.add(figure))
    if comparison.only_baseline or comparison.only_candidate:
        parts.append(
            f"<p>unmatched: only in baseline {html.escape(', '.join(comparison.only_baseline)) or '-'}; "
            f"only in candidate {html.escape(', '.join(comparison.only_candidate)) or '-'}</p>"
        )
    return parts
