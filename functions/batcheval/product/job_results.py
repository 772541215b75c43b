"""A job's per-session results: from its S3 export (`resultsExport`), else from its output log group."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

from batcheval.errors import ValidationError
from batcheval.product.output import without_metadata
from batcheval.product.results_source import ResultSet, iter_log_group, iter_s3_export


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where results are read")
    group.add_argument(
        "--source",
        choices=("auto", "s3", "logs"),
        default="auto",
        help="auto (default): the job's S3 export when it has one, else its output log group",
    )
    group.add_argument(
        "--aws-endpoint-url",
        help="S3 / CloudWatch Logs endpoint to read from (the local emulator's, shown by `batcheval serve`)",
    )


def data_client(args: argparse.Namespace, service: str) -> Any:
    """An S3 or Logs client on the caller's credentials (profile, region, optional endpoint)."""
    import boto3

    from batcheval.aws import AwsClients

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    region = args.region or session.region_name or "us-east-1"
    return AwsClients(region=region, endpoint_url=args.aws_endpoint_url, session=session).client(service)


def iter_job_results(
    job: dict[str, Any], *, source: str, client_for: Callable[[str], Any]
) -> Iterator[dict[str, Any]]:
    """Every result record of `job` (a GetBatchEvaluation response), streamed.

    `client_for("s3" | "logs")` is called only for the source actually read.
    """
    export = job.get("resultsExport")
    group = ((job.get("outputConfig") or {}).get("cloudWatchConfig") or {}).get("logGroupName")
    if source in ("auto", "s3") and export:
        yield from iter_s3_export(client_for("s3"), export["s3Uri"])
        return
    if source in ("auto", "logs") and group:
        yield from iter_log_group(client_for("logs"), group, job["batchEvaluationArn"])
        return
    wanted = {"auto": "S3 results export or output log group", "s3": "S3 results export"}
    raise ValidationError(
        f"job {job.get('batchEvaluationId')} ({job.get('status')}) has no "
        f"{wanted.get(source, 'output log group')} yet"
    )


def load_job(client: Any, job_id: str, args: argparse.Namespace) -> ResultSet:
    """The whole result set of a job, with the job's own summaries."""
    job = without_metadata(client.get_batch_evaluation(batchEvaluationId=job_id))
    records = list(iter_job_results(job, source=args.source, client_for=lambda name: data_client(args, name)))
    summaries = (job.get("evaluationResults") or {}).get("evaluatorSummaries")
    return ResultSet(job.get("batchEvaluationName") or job_id, records, summaries, job)
