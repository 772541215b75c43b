"""`batcheval demo`: one whole batch evaluation on this machine, from sample sessions to a report.

Runs on the embedded runtime the local server already started: writes realistic agent sessions
(four frameworks, tool errors, ground truth with testScenarioIds) into the emulated CloudWatch Logs,
starts a job with the stock boto3 client, watches it with a progress bar, then prints the
per-evaluator statistics and the worst sessions, and writes the per-session results and the
reports. Code and ground-truth evaluators always run; LLM-judge evaluators only with a judge
(`--judge bedrock` or `--judge openai:URL --model M`): without one they are named as skipped,
never given a fake score.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import msgspec
from botocore.exceptions import ClientError

from batcheval.jobs.status import TERMINAL
from batcheval.local.backend import Backend
from batcheval.local.sigv4 import DEFAULT_TENANT
from batcheval.product import views
from batcheval.product.output import to_json, without_metadata
from batcheval.product.progress import progress
from batcheval.product.service_errors import describe
from batcheval.sdk import client as agentcore_client
from batcheval.traces.sample_logs import runtime_log_group, write_samples
from batcheval.traces.samples import FRAMEWORKS, SampleSet, generate

DEMO_AGENT = "demo_agent"
DEFAULT_SESSIONS = 12
SAMPLE_SEED = 7
CODE_EVALUATORS = (
    "Builtin.TrajectoryInOrderMatch",
    "Builtin.TrajectoryAnyOrderMatch",
    "ThirdParty.Batcheval.ToolErrorRate",
    "ThirdParty.Batcheval.RepeatedToolCalls",
    "ThirdParty.Batcheval.TurnLatency",
)
LLM_EVALUATORS = ("Builtin.Helpfulness", "Builtin.GoalSuccessRate", "Builtin.Correctness")
POLL_S = 0.5
FOLLOW_TIMEOUT_S = 600
WORST_SHOWN = 5
JUDGE_HINT = (
    "--judge bedrock (AWS credentials) or --judge openai:URL --model MODEL "
    "(any OpenAI-compatible server, e.g. Ollama)"
)


def add_demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sessions", type=int, default=DEFAULT_SESSIONS, help=f"sample sessions (default {DEFAULT_SESSIONS})"
    )
    parser.add_argument("--serve", action="store_true", help="keep the API up after the job, for exploring")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print only the final GetBatchEvaluation response (JSON) on stdout",
    )
    parser.add_argument(
        "--output-dir",
        default="batcheval-demo",
        help="where results and reports go (default ./batcheval-demo)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the server's request log and handler logs"
    )


def judge_environment(args: argparse.Namespace) -> dict[str, str | None]:
    """The pipeline's judge settings (`BATCHEVAL_JUDGE_*`) for `--judge` / `--model`."""
    if args.judge is None:
        return {}
    return {"BATCHEVAL_JUDGE_SPEC": args.judge, "BATCHEVAL_JUDGE_MODEL_ID": args.model}


@dataclass(frozen=True)
class DemoFiles:
    results: Path
    html: Path | None
    markdown: Path


def run_demo(
    api_url: str,
    backend: Backend,
    args: argparse.Namespace,
    out: TextIO,
    *,
    run_over: Callable[[str], bool] = lambda job_id: False,
) -> int:
    """The whole demo after the server is up; the exit code (0 when the job finished)."""
    if args.sessions < 1:
        print("batcheval: error: --sessions must be at least 1", file=sys.stderr)
        return 2
    sample = seed_sessions(backend, args.sessions, out)
    evaluators = list(CODE_EVALUATORS)
    if args.judge:
        evaluators += LLM_EVALUATORS
    else:
        print(
            f"\nSkipping the LLM-judge evaluators {', '.join(LLM_EVALUATORS)}: no judge is configured. "
            f"Enable them with {JUDGE_HINT}.",
            file=out,
        )
    client = agentcore_client(
        endpoint_url=api_url,
        region_name=backend.region,
        aws_access_key_id=DEFAULT_TENANT.access_key,
        aws_secret_access_key=DEFAULT_TENANT.secret_key,
    )
    try:
        started = client.start_batch_evaluation(**build_request(sample, evaluators))
    except ClientError as error:
        print(f"batcheval: error: the demo job was refused: {describe(error)}", file=sys.stderr)
        return 1
    job_id = started["batchEvaluationId"]
    print(
        f"\nStarted batch evaluation {job_id} with the stock boto3 client; watching it:", file=out, flush=True
    )
    job = _watch(client, job_id, run_over)
    if job["status"] not in TERMINAL:
        print(f"batcheval: error: the demo job is still {job['status']}", file=sys.stderr)
        return 1
    records = _results(backend, job)
    files = write_outputs(Path(args.output_dir), job, records)
    print(summary_text(job, records, files), file=out, flush=True)
    if args.json:
        print(to_json(job), flush=True)
    return 0 if job["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS") else 1


def seed_sessions(backend: Backend, count: int, out: TextIO) -> SampleSet:
    """Write `count` realistic sessions (40 to 10 minutes ago) into the emulated CloudWatch Logs."""
    now_ns = time.time_ns()
    sample = generate(
        count,
        seed=SAMPLE_SEED,
        service_name=f"{DEMO_AGENT}.DEFAULT",
        frameworks=FRAMEWORKS,
        ground_truth=True,
        start_time_ns=now_ns - 40 * 60 * 10**9,
        window_s=30 * 60,
    )
    group = runtime_log_group(DEMO_AGENT)
    write_samples(backend.clients.client("logs"), sample, runtime_group=group)
    print(
        f"\nWrote {len(sample.session_ids)} sample agent sessions ({len(sample.records)} span records; "
        f"{', '.join(FRAMEWORKS)}; tool errors and retries; ground truth with testScenarioIds) "
        f"to CloudWatch Logs group {group} on the emulator.",
        file=out,
        flush=True,
    )
    return sample


MAX_FILTER_SESSION_IDS = 500
"""The API's limit on `filterConfig.sessionIds` and on `sessionMetadata` entries."""


def build_request(sample: SampleSet, evaluators: list[str]) -> dict[str, Any]:
    logs: dict[str, Any] = {
        "serviceNames": [f"{DEMO_AGENT}.DEFAULT"],
        "logGroupNames": [runtime_log_group(DEMO_AGENT)],
    }
    if len(sample.session_ids) <= MAX_FILTER_SESSION_IDS:
        # Only this run's sessions: an earlier demo in the same emulator wrote to the same group.
        logs["filterConfig"] = {"sessionIds": list(sample.session_ids)}
    return {
        "batchEvaluationName": "demo_" + wire_time_compact(),
        "description": "Sample job started by `batcheval demo`",
        "dataSourceConfig": {"cloudWatchLogs": logs},
        "evaluators": [{"evaluatorId": e} for e in evaluators],
        # The API takes ground truth for at most 500 sessions; the rest get MissingGroundTruth results.
        "evaluationMetadata": {"sessionMetadata": sample.ground_truth[:MAX_FILTER_SESSION_IDS]},
    }


def wire_time_compact() -> str:
    """UTC time to the microsecond, as a job-name suffix (names are unique per account)."""
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%d_%H%M%S_%f")


def _watch(client: Any, job_id: str, run_over: Callable[[str], bool]) -> dict[str, Any]:
    """Poll Get until the job ends, its local run ends (whatever it left), or the time limit."""
    deadline = time.monotonic() + FOLLOW_TIMEOUT_S
    with progress("evaluating") as bar:
        while True:
            over = run_over(job_id)  # read before Get: Get then sees the run's last write
            job = without_metadata(client.get_batch_evaluation(batchEvaluationId=job_id))
            counts = job.get("evaluationResults") or {}
            failed = counts.get("numberOfSessionsFailed", 0)
            total = counts.get("totalNumberOfSessions") or None
            bar.update(counts.get("numberOfSessionsCompleted", 0) + failed, failed, total)
            if job["status"] in TERMINAL or over or time.monotonic() >= deadline:
                return job
            time.sleep(POLL_S)


def _results(backend: Backend, job: dict[str, Any]) -> list[dict[str, Any]]:
    from batcheval.product.job_results import iter_job_results

    if not job.get("resultsExport") and not (job.get("outputConfig") or {}).get("cloudWatchConfig"):
        return []
    return list(iter_job_results(job, source="auto", client_for=backend.clients.client))


def write_outputs(directory: Path, job: dict[str, Any], records: list[dict[str, Any]]) -> DemoFiles:
    from batcheval.product import report_data, report_markdown

    directory.mkdir(parents=True, exist_ok=True)
    results = directory / "results.jsonl"
    results.write_bytes(msgspec.json.Encoder().encode_lines(records))
    data = report_data.build(
        f"batcheval demo: {job['batchEvaluationName']}", f"job {job['batchEvaluationId']}", records, job=job
    )
    markdown = directory / "report.md"
    markdown.write_text(report_markdown.render(data), encoding="utf-8")
    html: Path | None = directory / "report.html"
    try:
        from batcheval.product import report_html
    except ModuleNotFoundError:  # plotly is the `report` extra; said in the summary, Markdown still written
        html = None
    else:
        (directory / "report.html").write_text(report_html.render(data), encoding="utf-8")
    return DemoFiles(results, html, markdown)


def summary_text(job: dict[str, Any], records: list[dict[str, Any]], files: DemoFiles) -> str:
    from batcheval.product import report_data

    lines = ["", views.job_view(job)]
    worst = report_data.build("", "", records).worst[:WORST_SHOWN] if records else []
    if worst:
        lines += ["", f"Worst sessions ({len(worst)} shown):"]
        for row in worst:
            scenario = f"  scenario {row.scenario}" if row.scenario else ""
            lines.append(f"  {row.session_id}{scenario}: {row.failing} failing result(s)")
            for finding in row.findings:
                score = "" if finding.value is None else f" {finding.value:.3f}"
                detail = finding.error or f"{finding.label or ''}{score}: {finding.explanation or ''}"
                lines.append(f"    {finding.evaluator}: {detail}")
    lines += ["", f"Per-session results: {files.results.resolve()}"]
    if files.html is not None:
        lines.append(f"HTML report:         {files.html.resolve()}")
    else:
        lines.append("HTML report:         not written (install the `report` extra: plotly)")
    lines.append(f"Markdown report:     {files.markdown.resolve()}")
    return "\n".join(lines)
