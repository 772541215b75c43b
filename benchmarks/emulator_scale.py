"""Memory and Start latency of the embedded runtime as jobs and results accumulate.

`python -m benchmarks.emulator_scale [--jobs N] [--sessions S] [--every K] [--stock]`

Starts N jobs through `batcheval serve`'s stack (boto3 → local server → handler → embedded moto),
printing every K jobs the median Start latency of the last K and the process RSS; then writes the
results of one S-session job the way a pipeline does on the emulator (a conditional put and an ADD
counter update per session, one JSONL object per 100 sessions) and prints RSS again.
`--stock` runs moto untuned (journal-free transactions, instance tracking on): the before figure.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import time
from collections.abc import Iterator
from typing import Any

import boto3
import msgspec
from botocore.config import Config

import batcheval
from batcheval.local import emulator
from batcheval.local.backend import handler_environment
from batcheval.local.gateway import LocalGateway
from batcheval.local.proxy import ApiIdentity
from batcheval.local.server import LocalApiServer
from batcheval.local.sigv4 import DEFAULT_TENANT, TenantRegistry

SOURCE = {"cloudWatchLogs": {"serviceNames": ["bench_agent.DEFAULT"], "logGroupNames": ["/aws/spans"]}}
EVALUATORS = [{"evaluatorId": "Builtin.Helpfulness"}]
RESULTS_PER_OBJECT = 100


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def _untuned(_services: tuple[str, ...]) -> Iterator[None]:
    yield


def write_results(backend: Any, owner: str, job_id: str, sessions: int) -> None:
    """Per session: a conditional put of its outcome and an ADD to the job's counters; JSONL in S3."""
    dynamodb = backend.clients.client("dynamodb")
    s3 = backend.clients.client("s3")
    pk = {"S": f"OWNER#{owner}"}
    lines: list[bytes] = []
    for n in range(sessions):
        dynamodb.put_item(
            TableName=backend.table_name,
            Item={"pk": pk, "sk": {"S": f"SESSION#{job_id}#{n:06d}"}, "status": {"S": "SCORED"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
        dynamodb.update_item(
            TableName=backend.table_name,
            Key={"pk": pk, "sk": {"S": f"JOB#{job_id}"}},
            UpdateExpression="ADD #scored :one",
            ExpressionAttributeNames={"#scored": "scored"},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        record = {"sessionId": f"session-{n:06d}", "evaluatorId": "Builtin.Helpfulness", "value": 0.5}
        lines.append(msgspec.json.encode({**record, "explanation": "x" * 1500}))
        if len(lines) == RESULTS_PER_OBJECT or n + 1 == sessions:
            s3.put_object(
                Bucket=backend.bucket_name,
                Key=f"jobs/{owner}/{job_id}/results/part-{n // RESULTS_PER_OBJECT:05d}.jsonl",
                Body=b"\n".join(lines) + b"\n",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=backend.kms_key_arn,
            )
            lines = []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--stock", action="store_true", help="moto as shipped (the before figure)")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    if args.stock:
        emulator.tuned_moto = _untuned  # type: ignore[assignment]
    quotas = {"max_active_jobs": 10_000_000, "max_stored_jobs": 10_000_000}
    print(f"moto {'stock' if args.stock else 'tuned'}; RSS at start {rss_mb():.0f} MB")
    with (
        emulator.EmbeddedEmulator() as backend,
        handler_environment({**backend.handler_environment(**quotas), "POWERTOOLS_LOG_LEVEL": "WARNING"}),
    ):
        gateway = LocalGateway(TenantRegistry([DEFAULT_TENANT]), api=ApiIdentity(DEFAULT_TENANT.account_id))
        with LocalApiServer(gateway, port=0) as server:
            client = batcheval.client(
                endpoint_url=server.url,
                session=boto3.Session(),
                aws_access_key_id=DEFAULT_TENANT.access_key,
                aws_secret_access_key=DEFAULT_TENANT.secret_key,
                config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
            )
            client.list_batch_evaluations()  # cold start of the handlers
            window: list[float] = []
            first: float | None = None
            last_id = ""
            began = time.perf_counter()
            for n in range(args.jobs):
                t0 = time.perf_counter()
                job = client.start_batch_evaluation(
                    batchEvaluationName=f"scale_{n}",
                    dataSourceConfig=SOURCE,
                    evaluators=EVALUATORS,
                    clientToken=f"scale-token-{n:08d}-0123456789abcdefghijklmn",
                )
                window.append((time.perf_counter() - t0) * 1000)
                last_id = job["batchEvaluationId"]
                if len(window) == args.every or n + 1 == args.jobs:
                    median = statistics.median(window)
                    first = first or median
                    print(
                        f"jobs={n + 1:>6}  Start median {median:6.1f} ms ({median / first:4.2f}x first)"
                        f"  RSS {rss_mb():7.0f} MB  elapsed {time.perf_counter() - began:6.0f} s",
                        flush=True,
                    )
                    window = []
            t0 = time.perf_counter()
            write_results(backend, DEFAULT_TENANT.account_id, last_id, args.sessions)
            print(
                f"results of {args.sessions} sessions written in {time.perf_counter() - t0:.0f} s;"
                f" RSS {rss_mb():.0f} MB"
            )
            t0 = time.perf_counter()
            client.start_batch_evaluation(
                batchEvaluationName="scale_last", dataSourceConfig=SOURCE, evaluators=EVALUATORS
            )
            print(f"one more Start after the results: {(time.perf_counter() - t0) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
