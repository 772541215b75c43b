"""Human-readable views of service responses: a job, a job list, evaluator summaries, results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from batcheval.product.output import cell, table


def pass_rule(extended: Mapping[str, Any]) -> str | None:
    """`score >= 0.5` (or `<=` when lower is better): what passRate counts."""
    threshold = extended.get("passThreshold")
    if threshold is None:
        return None
    sign = "<=" if extended.get("polarity") == "lower_is_better" else ">="
    return f"score {sign} {threshold:g}"


def _ci(extended: Mapping[str, Any]) -> str | None:
    ci = extended.get("ci95")
    return None if not ci else f"[{ci['low']:.3f}, {ci['high']:.3f}]"


SUMMARY_COLUMNS = [
    *("evaluator", "dimension", "average", "evaluated", "failed", "stddev", "p50", "p90", "95% CI"),
    *("passRate", "passes when", "tokens"),
]


def summary_rows(summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for summary in summaries:
        ext = summary.get("extendedStatistics") or {}
        rows.append(
            {
                "evaluator": summary["evaluatorId"],
                "dimension": summary.get("evaluationDimensionName"),
                "average": (summary.get("statistics") or {}).get("averageScore"),
                "evaluated": summary.get("totalEvaluated"),
                "failed": summary.get("totalFailed"),
                "stddev": ext.get("stddev"),
                "p50": ext.get("p50"),
                "p90": ext.get("p90"),
                "95% CI": _ci(ext),
                "passRate": ext.get("passRate"),
                "passes when": pass_rule(ext),
                "tokens": (ext.get("tokenUsage") or {}).get("totalTokens"),
            }
        )
    return rows


def summaries_table(summaries: Sequence[Mapping[str, Any]]) -> str:
    return table(summary_rows(summaries), SUMMARY_COLUMNS)


def session_counts(job: Mapping[str, Any]) -> str:
    results = job.get("evaluationResults") or {}
    total = results.get("totalNumberOfSessions")
    parts = [
        f"{results.get('numberOfSessionsCompleted', 0)} completed",
        f"{results.get('numberOfSessionsFailed', 0)} failed",
        f"{results.get('numberOfSessionsInProgress', 0)} in progress",
    ]
    if results.get("numberOfSessionsIgnored"):
        parts.append(f"{results['numberOfSessionsIgnored']} ignored")
    return ", ".join(parts) + (f" of {total}" if total is not None else "")


def job_view(job: Mapping[str, Any]) -> str:
    lines = [
        f"{job.get('batchEvaluationName')}  {job.get('batchEvaluationId')}",
        f"  status:    {job.get('status')}",
        f"  created:   {cell(job.get('createdAt'))}   updated: {cell(job.get('updatedAt'))}",
        f"  sessions:  {session_counts(job)}",
        "  evaluators: " + ", ".join(e.get("evaluatorId", "?") for e in job.get("evaluators") or []),
    ]
    export = job.get("resultsExport")
    if export:
        lines.append(f"  results:   {export.get('s3Uri')} ({export.get('format')})")
    output = ((job.get("outputConfig") or {}).get("cloudWatchConfig") or {}).get("logGroupName")
    if output:
        lines.append(f"  log group: {output}")
    lines.extend(f"  error:     {detail}" for detail in job.get("errorDetails") or [])
    summaries = (job.get("evaluationResults") or {}).get("evaluatorSummaries")
    if summaries:
        lines += ["", summaries_table(summaries)]
    return "\n".join(lines)


def list_view(jobs: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        {
            "batchEvaluationId": job.get("batchEvaluationId"),
            "name": job.get("batchEvaluationName"),
            "status": job.get("status"),
            "created": job.get("createdAt"),
            "sessions": session_counts(job) if job.get("evaluationResults") else None,
        }
        for job in jobs
    ]
    return table(rows, ["batchEvaluationId", "name", "status", "created", "sessions"])


RESULT_COLUMNS = ["session", "scenario", "evaluator", "dimension", "label", "value", "unscored because"]
REASON_MAX = 100


def reason(record: Mapping[str, Any]) -> str | None:
    """`Code: message` of an unscored result, cut to keep a table readable (JSON has it all)."""
    code = record.get("errorCode")
    if code is None:
        return None
    text = f"{code}: {record.get('errorMessage') or ''}".rstrip(": ").replace("\n", " ")
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"


def result_row(record: Mapping[str, Any]) -> dict[str, Any]:
    span = record["context"]["spanContext"]
    return {
        "session": span["sessionId"],
        "scenario": record.get("testScenarioId"),
        "evaluator": record["evaluatorId"],
        "dimension": record.get("evaluationDimensionName"),
        "label": record.get("label"),
        "value": record.get("value"),
        "unscored because": reason(record),
    }
