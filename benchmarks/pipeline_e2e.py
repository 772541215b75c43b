"""A job end to end through the local runtime, and the computed shape of a very large job.

`python -m benchmarks.pipeline_e2e [--sessions 1000 10000] [--shape 1000000]`

Run: the embedded emulator (moto's server in this process, one call at a time, as `batcheval serve`
runs it), generated sessions (traces.samples.generate) written to its CloudWatch Logs, a job with
code evaluators started through JobService with the local orchestrator as its starter, and the
same step handlers the state machine runs, batched and concurrent as statemachine/batch_evaluation.
asl.json says. It reports the job's wall time (Start → terminal status), and where the time went:
every emulator call by operation (count and server time) and the step handlers' time.

Shape: what a job of N sessions looks like on AWS, computed (not run) from the definition's
settings and measured per-session sizes: manifest, items, batches, child executions, payloads,
aggregation, duration at a judge quota, and the infrastructure cost per 1,000 sessions.
"""

from __future__ import annotations

import argparse
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from batcheval.api import dependencies
from batcheval.api.settings import ApiSettings
from batcheval.local.backend import handler_environment
from batcheval.local.emulator import EmbeddedEmulator, _OneCallAtATime
from batcheval.local.orchestrator import LocalOrchestrator, import_handlers
from batcheval.local.statemachine import load_definition, map_settings
from batcheval.traces.discovery.manifest import manifest_body
from batcheval.traces.discovery.refs import SessionRef
from batcheval.traces.sample_logs import runtime_log_group, write_samples
from batcheval.traces.samples import generate

OWNER = "123456789012"
SERVICE = "BenchAgent.DEFAULT"
EVALUATORS = [
    "ThirdParty.Batcheval.ToolErrorRate",
    "ThirdParty.Batcheval.TurnLatency",
    "ThirdParty.Batcheval.TokenUsage",
]
FINISHED = {"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "STOPPED"}


class CallLog:
    """Emulator calls by operation: count and time spent serving them (the server runs one at a time)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def record(self, operation: str, seconds: float) -> None:
        with self._lock:
            self.calls[operation].append(seconds)

    def top(self, n: int = 12) -> list[tuple[str, int, float]]:
        rows = [(op, len(times), sum(times)) for op, times in self.calls.items()]
        return sorted(rows, key=lambda row: -row[2])[:n]


def _operation(environ: dict[str, Any]) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    auth = environ.get("HTTP_AUTHORIZATION", "")
    service = auth.split("/")[3] if auth.count("/") >= 4 else "?"
    method = environ.get("REQUEST_METHOD", "")
    query = environ.get("QUERY_STRING", "")
    kind = "list" if "list-type" in query else ("delete" if "delete" in query else "")
    return f"{service} {method} {kind}".strip()


@contextmanager
def counted_emulator(log: CallLog) -> Iterator[None]:
    original = _OneCallAtATime.__call__

    def timed(self: Any, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self._lock:  # time the call itself, not the wait for the one-call-at-a-time lock
            began = time.perf_counter()
            try:
                return list(self._app(environ, start_response))
            finally:
                log.record(_operation(environ), time.perf_counter() - began)

    _OneCallAtATime.__call__ = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        _OneCallAtATime.__call__ = original  # type: ignore[method-assign]


class TimedHandlers(dict[str, Any]):
    """The step handlers, each call timed (wall time inside the handler, summed over threads)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        lock = threading.Lock()
        for step, handler in import_handlers().items():

            def wrapped(
                event: dict[str, Any], context: Any, _step: str = step, _handler: Any = handler
            ) -> Any:
                began = time.perf_counter()
                try:
                    return _handler(event, context)
                finally:
                    with lock:
                        self.seconds[_step] += time.perf_counter() - began
                        self.count[_step] += 1

            self[step] = wrapped


def run_job(sessions: int, *, window_hours: float, seed: int = 1) -> dict[str, Any]:
    log = CallLog()
    with counted_emulator(log), EmbeddedEmulator() as backend:
        env = backend.handler_environment(max_active_jobs=100, max_stored_jobs=1000)
        env.update(
            {
                "BATCHEVAL_DISCOVERY": "filter",
                "BATCHEVAL_MAX_SESSIONS": str(max(sessions, 10_000)),
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        with handler_environment(env):
            now_ns = time.time_ns()
            group = runtime_log_group("BenchAgent")
            began = time.perf_counter()
            sample = generate(
                sessions,
                seed=seed,
                service_name=SERVICE,
                start_time_ns=now_ns - int((window_hours + 1) * 3600 * 10**9),
                window_s=window_hours * 3600,
            )
            generated = time.perf_counter() - began
            began = time.perf_counter()
            write_samples(backend.clients.client("logs"), sample, runtime_group=group)
            seeded = time.perf_counter() - began
            handlers = TimedHandlers()
            orchestrator = LocalOrchestrator(backend.clients, account_id=OWNER, handlers=handlers)
            service = dependencies.build_service(
                ApiSettings.from_env(), starter=orchestrator, clients=backend.clients
            )
            log.calls.clear()
            began = time.perf_counter()
            job = service.start(
                OWNER,
                {
                    "batchEvaluationName": f"bench_{sessions}",
                    "dataSourceConfig": {
                        "cloudWatchLogs": {"serviceNames": [SERVICE], "logGroupNames": [group]}
                    },
                    "evaluators": [{"evaluatorId": e} for e in EVALUATORS],
                },
            ).job
            orchestrator.wait(OWNER, job.job_id, timeout_s=3600)
            elapsed = time.perf_counter() - began
            final = service.get(OWNER, job.job_id).job
            results = final.evaluation_results or {}
            return {
                "sessions": sessions,
                "spans": len(sample.records),
                "generate_s": generated,
                "seed_logs_s": seeded,
                "job_s": elapsed,
                "status": final.status,
                "completed": results.get("numberOfSessionsCompleted"),
                "failed": results.get("numberOfSessionsFailed"),
                "emulator": log.top(),
                "emulator_s": sum(t for times in log.calls.values() for t in times),
                "emulator_calls": sum(len(times) for times in log.calls.values()),
                "handlers": {
                    step: (handlers.count[step], handlers.seconds[step]) for step in handlers.seconds
                },
            }


# ---- the shape of a large job (computed) ----------------------------------------------------------

PRICES = {
    "lambda_gb_s": 0.0000166667,
    "lambda_request": 0.20 / 1e6,
    "sfn_standard_transition": 0.025 / 1000,
    "ddb_write_unit": 0.625 / 1e6,
    "ddb_read_unit": 0.125 / 1e6,
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "s3_gb_month": 0.023,
    "cwl_ingest_gb": 0.50,
    "insights_scan_gb": 0.005,
}
"""us-east-1 list prices (performance-limits.md §1-2; Lambda/S3 request prices as recalled [R])."""


def shape(
    sessions: int,
    *,
    evaluators: int = 10,
    llm_evaluators: int = 1,
    ref_bytes: int,
    result_bytes: int = 450,
    spans_per_session: float = 10.0,
    span_bytes: int = 1700,
    score_ms_per_session: float = 5_000.0,
    lambda_gb: float = 1.0,
    judge_tpm: float = 4_000_000,
    quota_tokens_per_call: float = 3_500,
) -> dict[str, Any]:
    settings = map_settings(load_definition())
    per_batch = settings.max_items_per_batch
    batches = math.ceil(sessions / per_batch)
    results = sessions * evaluators
    # Standard child: Score batch, Sessions left?, Batch done ≈ 4 transitions (+2 per extra round)
    child_transitions = 4
    parent_transitions = 8  # Bind, Discover, Proceed?, Map (+ start/end), Aggregate, Done
    transitions = parent_transitions + batches * child_transitions
    score_gb_s = sessions * score_ms_per_session / 1000 * lambda_gb
    # Writes (as the engine writes today): one conditional claim item per session (it carries the
    # session's result lines); per batch an OPEN announcement, a commit and a progress update, an
    # export object, a partial summary and one PutLogEvents.
    ddb_writes = sessions * 1 + batches * 3
    s3_puts = batches * 2 + 3
    s3_gets = batches * 2 + batches  # spec + staged lookups (list) + aggregate reading partials
    cwl_bytes = results * (result_bytes + 26)
    spans_gb = sessions * spans_per_session * span_bytes / 1e9
    cost = {
        "lambda": score_gb_s * PRICES["lambda_gb_s"] + (batches + 3) * PRICES["lambda_request"],
        "step_functions": transitions * PRICES["sfn_standard_transition"],
        "dynamodb": ddb_writes * PRICES["ddb_write_unit"] + batches * 4 * PRICES["ddb_read_unit"],
        "s3": s3_puts * PRICES["s3_put"] + s3_gets * PRICES["s3_get"],
        "cloudwatch_logs": cwl_bytes / 1e9 * PRICES["cwl_ingest_gb"] + spans_gb * PRICES["insights_scan_gb"],
    }
    per_1k = {k: v / sessions * 1000 for k, v in cost.items()}
    judge_calls = sessions * llm_evaluators * 3  # a trace-level judge ≈ 3 calls per session (1-3 turns)
    duration_min = judge_calls * quota_tokens_per_call / judge_tpm
    return {
        "sessions": sessions,
        "manifest_bytes": sessions * (ref_bytes + 1),
        "items": sessions,
        "batches_child_executions": batches,
        "max_items_per_batch": per_batch,
        "batch_input_bytes": per_batch * ref_bytes + 80,
        "max_concurrency": settings.max_concurrency,
        "state_payload_bytes_max": max(per_batch * ref_bytes + 200, 600),
        "results": results,
        "export_bytes": results * result_bytes,
        "aggregation": f"{batches} per-batch partials merged (≈ {batches * evaluators} summary rows)",
        "judge_calls": judge_calls,
        "duration_at_quota_min": duration_min,
        "transitions": transitions,
        "cost_total_usd": sum(cost.values()),
        "cost_per_1k_usd": per_1k,
        "cost_per_1k_total_usd": sum(per_1k.values()),
    }


def measured_ref_bytes() -> int:
    sample = generate(200, seed=3, service_name=SERVICE)
    refs = [
        SessionRef(
            sid,
            SERVICE,
            (runtime_log_group("BenchAgent"),),
            1_795_000_000_000_000_000,
            1_795_000_100_000_000_000,
            12,
        )
        for sid in sample.session_ids
    ]
    return math.ceil(len(manifest_body(refs)) / len(refs)) - 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--shape", type=int, default=1_000_000)
    parser.add_argument("--judge-tpm", type=float, default=4_000_000)
    parser.add_argument(
        "--window-hours", type=float, default=24.0, help="the sessions' time spread (a day of traffic)"
    )
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    for n in args.sessions:
        out = run_job(n, window_hours=args.window_hours)
        print(
            f"\n== {n} sessions over {args.window_hours:g} h ({out['spans']} span records), "
            f"evaluators: {', '.join(EVALUATORS)}"
        )
        print(
            f"job (Start -> {out['status']}): {out['job_s']:.1f} s   "
            f"completed={out['completed']} failed={out['failed']}"
        )
        print(
            f"(not in the job time: generate {out['generate_s']:.1f} s, "
            f"write spans {out['seed_logs_s']:.1f} s)"
        )
        print(f"emulator: {out['emulator_calls']} calls, {out['emulator_s']:.1f} s serving them")
        for op, count, seconds in out["emulator"]:
            print(f"  {op:<34} {count:>7} calls {seconds:8.2f} s  ({seconds / count * 1000:6.2f} ms/call)")
        for step, (count, seconds) in sorted(out["handlers"].items()):
            print(f"  handler {step:<14} {count:>6} calls {seconds:8.2f} s (summed over threads)")
    ref_bytes = measured_ref_bytes()
    print(f"\n== shape of a {args.shape:,}-session job, 10 evaluators (1 LLM judge), computed")
    for key, value in shape(args.shape, ref_bytes=ref_bytes, judge_tpm=args.judge_tpm).items():
        if isinstance(value, dict):
            print(f"  {key}: " + ", ".join(f"{k} ${v:.4f}" for k, v in value.items()))
        elif isinstance(value, float):
            print(f"  {key}: {value:,.2f}")
        else:
            print(f"  {key}: {value:,}" if isinstance(value, int) else f"  {key}: {value}")


if __name__ == "__main__":
    main()
