"""`batcheval start | get | list | stop | delete | watch | retry-failed | results`: jobs on any batcheval API.

Exit codes: 0 success; 1 the service refused or failed the request (its code, message, reason and
fields are printed), or a watched job ended FAILED / STOPPED; 2 usage or input errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from batcheval.errors import DomainError
from batcheval.jobs.status import TERMINAL
from batcheval.product import views
from batcheval.product.connection import add_connection_options, make_client
from batcheval.product.job_results import add_data_options, data_client, iter_job_results
from batcheval.product.output import SERVICE_ERROR, fail, to_json, without_metadata
from batcheval.product.service_errors import report

UNSUCCESSFUL = frozenset({"FAILED", "STOPPED"})
Command = Callable[[argparse.Namespace, Any], int]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    start = _command(
        sub, "start", "start a batch evaluation (request file in the boto3 shape, plus flags)", run_start
    )
    start.add_argument("--request", metavar="FILE", help="StartBatchEvaluation request as JSON (boto3 shape)")
    start.add_argument("--name", help="batchEvaluationName (default: job_<UTC time to the microsecond>)")
    start.add_argument("--description")
    start.add_argument(
        "--evaluator", action="append", metavar="ID", dest="evaluators", help="evaluator id (repeatable)"
    )
    start.add_argument(
        "--service-name",
        action="append",
        metavar="NAME",
        dest="service_names",
        help="agent service.name, e.g. my_agent.DEFAULT (repeatable)",
    )
    start.add_argument(
        "--log-group",
        action="append",
        metavar="NAME",
        dest="log_groups",
        help="CloudWatch Logs group with the agent's spans (repeatable)",
    )
    start.add_argument("--log-group-prefix", action="append", metavar="PREFIX", dest="log_group_prefixes")
    start.add_argument(
        "--session-id", action="append", metavar="ID", dest="session_ids", help="only these sessions"
    )
    start.add_argument(
        "--since", metavar="DURATION", help="sessions of the last 30m, 24h, 7d, ... (until now)"
    )
    start.add_argument("--start-time", metavar="ISO", help="window start, e.g. 2026-12-01T00:00:00Z")
    start.add_argument("--end-time", metavar="ISO", help="window end (default: now)")
    start.add_argument("--ground-truth", metavar="FILE", help="JSON list of sessionMetadata entries")
    start.add_argument(
        "--output-log-group", metavar="NAME", help="write results to this CloudWatch Logs group"
    )
    start.add_argument("--kms-key-arn", help="your KMS key for the job's data")
    start.add_argument("--client-token", help="idempotency token (33-256 characters)")
    start.add_argument(
        "--watch", action="store_true", help="then watch it until it ends (as `batcheval watch`)"
    )
    _watch_options(start)

    get = _command(sub, "get", "show a batch evaluation: status, session counts, statistics", run_get)
    get.add_argument("job_id", metavar="JOB_ID")

    listing = _command(sub, "list", "list batch evaluations (every page)", run_list)
    listing.add_argument("--max-results", type=int, help="page size asked of the service")

    stop = _command(sub, "stop", "stop a running batch evaluation", run_stop)
    stop.add_argument("job_id", metavar="JOB_ID")

    delete = _command(sub, "delete", "delete a finished batch evaluation and its data", run_delete)
    delete.add_argument("job_id", metavar="JOB_ID")

    watch = _command(
        sub, "watch", "show a progress bar until a batch evaluation ends, then the result", run_watch
    )
    watch.add_argument("job_id", metavar="JOB_ID")
    _watch_options(watch)

    retry = _command(
        sub, "retry-failed", "score again only the failed sessions of a finished batch evaluation", run_retry
    )
    retry.add_argument("job_id", metavar="JOB_ID")
    retry.add_argument("--watch", action="store_true", help="then watch it until it ends")
    _watch_options(retry)

    results = _command(
        sub,
        "results",
        "stream a batch evaluation's per-session results (JSON Lines by default)",
        run_results,
        formats=("jsonl", "table"),
    )
    results.add_argument("job_id", metavar="JOB_ID")
    add_data_options(results)


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    run: Command,
    *,
    formats: tuple[str, ...] = ("table", "json"),
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
    default = formats[0] if name == "results" else ("table" if sys.stdout.isatty() else "json")
    parser.add_argument(
        "--format",
        choices=formats,
        default=default,
        help=f"output format (default: {'jsonl' if name == 'results' else 'table on a terminal, else json'})",
    )
    add_connection_options(parser)
    parser.set_defaults(handler=lambda args: _call(run, args))
    return parser


def _watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds (exit 1)")


def _call(run: Command, args: argparse.Namespace) -> int:
    try:
        return run(args, make_client(args))
    except (ClientError, BotoCoreError) as error:
        return report(error)
    except DomainError as error:
        return fail(error.message)


def _print(args: argparse.Namespace, response: dict[str, Any], view: Callable[[dict[str, Any]], str]) -> None:
    body = without_metadata(response)
    print(to_json(body) if args.format == "json" else view(body), flush=True)


def run_start(args: argparse.Namespace, client: Any) -> int:
    from batcheval.product.start_request import build_request

    request = build_request(
        request_file=args.request,
        name=args.name,
        description=args.description,
        evaluators=args.evaluators,
        service_names=args.service_names,
        log_groups=args.log_groups,
        log_group_prefixes=args.log_group_prefixes,
        session_ids=args.session_ids,
        since=args.since,
        start_time=args.start_time,
        end_time=args.end_time,
        ground_truth=args.ground_truth,
        output_log_group=args.output_log_group,
        kms_key_arn=args.kms_key_arn,
        client_token=args.client_token,
        now=datetime.now(UTC),
    )
    started = client.start_batch_evaluation(**request)
    if args.watch:
        return _watch(args, client, started["batchEvaluationId"])
    _print(
        args,
        started,
        lambda body: f"started {body['batchEvaluationName']}  {body['batchEvaluationId']}  {body['status']}",
    )
    return 0


def run_get(args: argparse.Namespace, client: Any) -> int:
    _print(args, client.get_batch_evaluation(batchEvaluationId=args.job_id), views.job_view)
    return 0


def run_list(args: argparse.Namespace, client: Any) -> int:
    jobs: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {} if args.max_results is None else {"maxResults": args.max_results}
    for page in client.get_paginator("list_batch_evaluations").paginate(**kwargs):
        jobs.extend(page.get("batchEvaluations", []))
    if args.format == "json":
        print(to_json({"batchEvaluations": jobs}))
    else:
        print(views.list_view(jobs))
    return 0


def run_stop(args: argparse.Namespace, client: Any) -> int:
    _print(args, client.stop_batch_evaluation(batchEvaluationId=args.job_id), _status_line("stopping"))
    return 0


def run_delete(args: argparse.Namespace, client: Any) -> int:
    _print(args, client.delete_batch_evaluation(batchEvaluationId=args.job_id), _status_line("deleting"))
    return 0


def run_retry(args: argparse.Namespace, client: Any) -> int:
    answer = client.retry_failed_batch_evaluation(batchEvaluationId=args.job_id)
    if args.watch:
        return _watch(args, client, args.job_id)
    _print(args, answer, _status_line("retrying failed sessions of"))
    return 0


def run_watch(args: argparse.Namespace, client: Any) -> int:
    return _watch(args, client, args.job_id)


def run_results(args: argparse.Namespace, client: Any) -> int:
    job = without_metadata(client.get_batch_evaluation(batchEvaluationId=args.job_id))
    records = iter_job_results(job, source=args.source, client_for=lambda name: data_client(args, name))
    if args.format == "jsonl":
        for record in records:
            print(msgspec.json.encode(record).decode(), flush=False)
        return 0
    from batcheval.product.output import table

    print(table([views.result_row(r) for r in records], views.RESULT_COLUMNS))
    return 0


def _status_line(verb: str) -> Callable[[dict[str, Any]], str]:
    return lambda body: f"{verb} {body.get('batchEvaluationId')}: {body.get('status')}"


def _watch(args: argparse.Namespace, client: Any, job_id: str) -> int:
    from batcheval.product.progress import progress

    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    with progress(f"job {job_id}") as bar:
        while True:
            job = without_metadata(client.get_batch_evaluation(batchEvaluationId=job_id))
            counts = job.get("evaluationResults") or {}
            failed = counts.get("numberOfSessionsFailed", 0)
            bar.update(
                counts.get("numberOfSessionsCompleted", 0) + failed,
                failed,
                counts.get("totalNumberOfSessions"),
            )
            if job["status"] in TERMINAL:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return fail(f"job {job_id} is still {job['status']} after {args.timeout:g} s", SERVICE_ERROR)
            time.sleep(args.interval)
    _print(args, job, views.job_view)
    return SERVICE_ERROR if job["status"] in UNSUCCESSFUL else 0
